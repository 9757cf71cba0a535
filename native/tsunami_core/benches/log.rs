//! Criterion benches of the durable log alone (no BEAM): appends per second for each sync
//! mode with 1 and 8 writer threads, and the time to open (recover) a log of 1M records by
//! scanning data files and by reading hint files. Run with
//! `cargo bench -p tsunami_core --bench log`. Directories go under the system temp dir
//! (`TMPDIR`), so the figures are those of that file system's fdatasync.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tsunami_core::log::{Entry, Log, MergeOptions, OpenOptions, ReplayValues, SyncMode};

fn fresh_dir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("tsunami-log-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn value(i: u64) -> Vec<u8> {
    format!(
        "{{{i}, \"value-{i}\", [{i}, {}]}}-padding-to-about-64-bytes....",
        2 * i
    )
    .into_bytes()
}

fn appends(c: &mut Criterion) {
    let modes = [
        ("always", SyncMode::Always),
        ("interval_1s", SyncMode::interval_default()),
        ("none", SyncMode::None),
    ];
    let mut g = c.benchmark_group("log_append");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    // The floor: the same bytes appended with one `pwrite` each and no log around them.
    {
        use std::os::unix::fs::FileExt;
        let dir = fresh_dir("raw");
        std::fs::create_dir_all(&dir).unwrap();
        let f = std::fs::File::create(dir.join("raw")).unwrap();
        let mut at = 0u64;
        let mut i = 0u64;
        g.bench_function(BenchmarkId::new("raw_pwrite", "1_writers"), |b| {
            b.iter(|| {
                i += 1;
                let mut rec = (i).to_le_bytes().to_vec();
                rec.extend_from_slice(&value(i));
                rec.extend_from_slice(&[0u8; 33]); // the log's record + entry headers
                f.write_all_at(&rec, at).unwrap();
                at += rec.len() as u64;
            })
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (name, sync) in modes {
        for threads in [1u64, 8] {
            let dir = fresh_dir(&format!("{name}-{threads}"));
            let opts = OpenOptions {
                sync,
                ..OpenOptions::default()
            };
            let (log, _) = Log::open(&dir, opts, |_| {}).unwrap();
            let log = Arc::new(log);
            g.bench_function(BenchmarkId::new(name, format!("{threads}_writers")), |b| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(threads);
                    let start = Instant::now();
                    let hs: Vec<_> = (0..threads)
                        .map(|t| {
                            let log = log.clone();
                            std::thread::spawn(move || {
                                for i in 0..per {
                                    let k = (t << 40 | i).to_le_bytes();
                                    log.append(&[Entry::put(&k, &value(i))]).unwrap();
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per * threads) as f64)
                })
            });
            drop(log);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    g.finish();
}

fn recovery(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let dir = fresh_dir("recovery");
    let opts = OpenOptions {
        sync: SyncMode::None,
        ..OpenOptions::default()
    };
    {
        let (log, _) = Log::open(&dir, opts.clone(), |_| {}).unwrap();
        for i in 0..N {
            log.write(&[Entry::put(&i.to_le_bytes(), &value(i))])
                .unwrap();
        }
    }
    let mut g = c.benchmark_group("log_open_1M");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(N));
    let count = |values| {
        let mut n = 0u64;
        let o = OpenOptions {
            values,
            ..opts.clone()
        };
        let (log, _) = Log::open(&dir, o, |_| n += 1).unwrap();
        drop(log);
        assert_eq!(n, N);
    };
    g.bench_function("scan_data_full", |b| b.iter(|| count(ReplayValues::Full)));
    g.bench_function("scan_data_keys_only", |b| {
        b.iter(|| count(ReplayValues::KeysOnly))
    });
    {
        // Every record is live: the merge rewrites them all and writes hints.
        let (log, _) = Log::open(&dir, opts.clone(), |_| {}).unwrap();
        let o = MergeOptions {
            include_active: true,
            ..MergeOptions::default()
        };
        log.merge(&o, |_, _| true, |_, _, _| {}).unwrap();
    }
    g.bench_function("hints_keys_only", |b| {
        b.iter(|| count(ReplayValues::KeysOnly))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, appends, recovery);
criterion_main!(benches);
