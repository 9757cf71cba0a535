//! Head patterns against an object's encoding: variables bind to slices of the object.

use super::value::{eq_exact, eq_pattern, Val};
use super::{Fail, Pat};
use crate::term::{read_head, skip, tag, Head};

/// Matches the head against the whole object. `Err(Vm)` for a map stored in the
/// external format (too deeply nested for the encoding).
#[inline]
pub fn match_head<'o>(p: &Pat, obj: &'o [u8], vars: &mut [Val<'o>]) -> Result<bool, Fail> {
    match p {
        // Stored objects are well formed: nothing to check, nothing to step over.
        Pat::Any => Ok(true),
        // The object's own tuple: trailing `'_'` elements need not be stepped over.
        Pat::Tuple(ps, significant) => match read_head(obj, 0) {
            Some((Head::Tuple(n), mut q)) if n as usize == ps.len() => {
                for p in &ps[..*significant] {
                    // The usual elements (`'_'` and first variables) without the
                    // general matcher's call.
                    q = match p {
                        Pat::Any => skip(obj, q).ok_or(Fail::Error)?,
                        Pat::Bind(i) => {
                            let e = skip(obj, q).ok_or(Fail::Error)?;
                            vars[*i] = Val::Ref(&obj[q..e]);
                            e
                        }
                        _ => match matches(p, obj, q, vars)? {
                            Some(next) => next,
                            None => return Ok(false),
                        },
                    };
                }
                Ok(true)
            }
            _ => Ok(false),
        },
        _ => Ok(matches(p, obj, 0, vars)?.is_some()),
    }
}

/// Matches `p` against the term at `pos`; the position after it when it matches.
fn matches<'o>(
    p: &Pat,
    b: &'o [u8],
    pos: usize,
    vars: &mut [Val<'o>],
) -> Result<Option<usize>, Fail> {
    let end = || skip(b, pos).ok_or(Fail::Error);
    Ok(match p {
        Pat::Any => Some(end()?),
        Pat::Bind(i) => {
            let e = end()?;
            vars[*i] = Val::Ref(&b[pos..e]);
            Some(e)
        }
        Pat::Check(i) => {
            let e = end()?;
            eq_exact(vars[*i].bytes(), &b[pos..e]).then_some(e)
        }
        Pat::Lit(l) => {
            // Cheap reject on the tag before walking: bare and named atoms are the one
            // pair of tags that may still be equal.
            let (x, y) = (l.first().copied(), b.get(pos).copied());
            if x != y && !(is_atomish(x) && is_atomish(y)) {
                return Ok(None);
            }
            let e = end()?;
            eq_pattern(l, &b[pos..e]).then_some(e)
        }
        Pat::Tuple(ps, _) => match read_head(b, pos) {
            Some((Head::Tuple(n), mut q)) if n as usize == ps.len() => {
                for p in ps {
                    match matches(p, b, q, vars)? {
                        Some(next) => q = next,
                        None => return Ok(None),
                    }
                }
                Some(q)
            }
            _ => None,
        },
        Pat::List(ps, tail) => match read_head(b, pos) {
            Some((Head::List(n), mut q)) if n as usize >= ps.len() => {
                for p in ps {
                    match matches(p, b, q, vars)? {
                        Some(next) => q = next,
                        None => return Ok(None),
                    }
                }
                let rest = n as usize - ps.len();
                if rest == 0 {
                    return matches(tail, b, q, vars);
                }
                // The tail is the list of the remaining elements: not a slice of the
                // object (its header differs), so it is built when needed.
                let e = end()?;
                match &**tail {
                    Pat::Any => Some(e),
                    Pat::Bind(i) => {
                        vars[*i] = Val::Own(sublist(rest, &b[q..e]));
                        Some(e)
                    }
                    Pat::Check(i) => {
                        eq_exact(vars[*i].bytes(), &sublist(rest, &b[q..e])).then_some(e)
                    }
                    Pat::Lit(l) => eq_pattern(l, &sublist(rest, &b[q..e])).then_some(e),
                    _ => None,
                }
            }
            _ => None,
        },
        Pat::Map(pairs) => match read_head(b, pos) {
            Some((Head::Map(n), first)) => {
                for (key, p) in pairs {
                    let mut q = first;
                    let mut found = false;
                    for _ in 0..n {
                        let kend = skip(b, q).ok_or(Fail::Error)?;
                        if eq_exact(key, &b[q..kend]) {
                            if matches(p, b, kend, vars)?.is_none() {
                                return Ok(None);
                            }
                            found = true;
                            break;
                        }
                        q = skip(b, kend).ok_or(Fail::Error)?;
                    }
                    if !found {
                        return Ok(None);
                    }
                }
                Some(end()?)
            }
            Some((Head::Ext([131, 116, ..]), _)) => return Err(Fail::Vm),
            _ => None,
        },
    })
}

#[inline]
fn is_atomish(t: Option<u8>) -> bool {
    matches!(t, Some(tag::IMM | tag::ATOM))
}

/// `LIST n` followed by `elements_and_tail` (already encoded).
pub fn sublist(n: usize, elements_and_tail: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + elements_and_tail.len());
    v.push(tag::LIST);
    v.extend_from_slice(&(n as u32).to_le_bytes());
    v.extend_from_slice(elements_and_tail);
    v
}
