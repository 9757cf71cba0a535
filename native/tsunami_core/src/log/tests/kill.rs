//! Real process death: a child process (this test binary, re-run with an environment
//! variable) writes with `SyncMode::Always`, merging meanwhile, and is SIGKILLed at random
//! moments; after each kill the directory is reopened and checked: every acknowledged batch
//! is there, whole, and the log is an exact prefix of the batches written (no partial
//! batch, no deleted key back). `TSUNAMI_LOG_KILLS=200 cargo test --release -p tsunami_core
//! log::tests::kill -- --ignored` runs the long version.

use super::merge::Table;
use super::*;
use crate::log::{LogError, MergeOptions};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHILD_TEST: &str = "log::tests::kill::child_process_entry";

fn spawn(mode: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CHILD_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TSUNAMI_LOG_CHILD", mode)
        .env("TSUNAMI_LOG_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Batch `i`: `1 + i % 4` puts of `b{i}-{j}`, and from `i = 5` the delete of `b{i-5}-0`.
fn batch_keys(i: u64) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let puts = (0..1 + i % 4)
        .map(|j| format!("b{i}-{j}").into_bytes())
        .collect();
    let del = (i >= 5).then(|| format!("b{}-0", i - 5).into_bytes());
    (puts, del)
}

fn batch_value(key: &[u8]) -> Vec<u8> {
    let mut v = key.to_vec();
    v.resize(64 + key.len() % 50, b'.');
    v
}

/// The state after batches `0..p`.
fn expected(p: u64) -> Model {
    let mut m = Model::default();
    for i in 0..p {
        let (puts, del) = batch_keys(i);
        for k in &puts {
            m.apply(Op::Put, k, &batch_value(k));
        }
        if let Some(d) = del {
            m.apply(Op::DeleteKey, &d, &[]);
        }
    }
    m
}

/// The batch index of a key `b{i}-{j}`.
fn batch_of(key: &[u8]) -> u64 {
    let s = std::str::from_utf8(&key[1..]).unwrap();
    s.split('-').next().unwrap().parse().unwrap()
}

/// Entry point of the child processes; does nothing unless `TSUNAMI_LOG_CHILD` is set.
#[test]
#[ignore]
fn child_process_entry() {
    let Ok(mode) = std::env::var("TSUNAMI_LOG_CHILD") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("TSUNAMI_LOG_DIR").unwrap());
    if mode == "hold" {
        let _log = open(&dir, OpenOptions::default()).unwrap();
        println!("ready");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let t = std::sync::Arc::new(Table::open(&dir, small_files()));
    let start = {
        let s = t.state.lock().unwrap();
        s.1.map.keys().map(|k| batch_of(k) + 1).max().unwrap_or(0)
    };
    println!("start {start}");
    if mode == "write-merge" {
        let t = t.clone();
        std::thread::spawn(move || {
            for n in 0.. {
                let opts = MergeOptions {
                    include_active: n % 3 == 0,
                    ..MergeOptions::default()
                };
                t.merge(&opts).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
    }
    for i in start.. {
        let (puts, del) = batch_keys(i);
        let values: Vec<Vec<u8>> = puts.iter().map(|k| batch_value(k)).collect();
        let mut batch: Vec<Entry<'_>> = puts
            .iter()
            .zip(&values)
            .map(|(k, v)| Entry::put(k, v))
            .collect();
        if let Some(d) = &del {
            batch.push(Entry::delete(d));
        }
        t.apply(&batch);
        println!("ack {i}");
    }
}

/// `Some(n)` for a child's line ending in `{word} {n}` (the test harness may print its own
/// text before the first one).
fn message(line: &str, word: &str) -> Option<u64> {
    let mut t = line.rsplit(' ');
    let n = t.next()?.parse().ok()?;
    (t.next()? == word).then_some(n)
}

/// Runs `kills` child writers, each killed after a random number of acknowledged batches.
fn kill_storm(kills: u64, mode: &str, seed: u64) {
    let dir = TempDir::new("kill");
    let mut rng = Rng(seed);
    let mut acked = 0u64; // batches 0..acked were acknowledged
    let mut recovered = 0u64; // batches 0..recovered were found by the last reopen
    for run in 0..kills {
        let mut child = spawn(mode, dir.path());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let target = 1 + rng.below(60);
        let mut seen = 0;
        let mut start = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(s) = message(&line, "start") {
                start = Some(s);
            } else if let Some(i) = message(&line, "ack") {
                acked = acked.max(i + 1);
                seen += 1;
                if seen == target {
                    break;
                }
            }
        }
        // Land the kill at a random point of the next appends.
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // The child resumed exactly where the last reopen ended.
        assert_eq!(start, Some(recovered), "run {run}");
        let (log, m, _, report) = open(dir.path(), small_files()).unwrap();
        let p = m.map.keys().map(|k| batch_of(k) + 1).max().unwrap_or(0);
        assert!(
            p >= acked,
            "run {run}: acknowledged {acked}, found {p}: {report:?}"
        );
        assert_eq!(m, expected(p), "run {run}: not exactly batches 0..{p}");
        recovered = p;
        drop(log);
        // The same keys through hint files where merges left them.
        let keys_only = OpenOptions {
            values: crate::log::ReplayValues::KeysOnly,
            ..small_files()
        };
        let (log, k, _, _) = open(dir.path(), keys_only).unwrap();
        assert!(
            k.map.keys().eq(m.map.keys()),
            "run {run}: keys-only open differs"
        );
        drop(log);
    }
    if mode == "write-merge" {
        let hints = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("hint".as_ref()))
            .count();
        assert!(hints > 0, "no merge finished in {kills} runs");
    }
}

#[test]
fn killed_writer_loses_nothing_acknowledged_short() {
    kill_storm(4, "write", 1);
    kill_storm(4, "write-merge", 2);
}

#[test]
#[ignore]
fn killed_writer_loses_nothing_acknowledged_long() {
    let kills: u64 = std::env::var("TSUNAMI_LOG_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    kill_storm(kills / 2, "write", 11);
    kill_storm(kills - kills / 2, "write-merge", 12);
}

#[test]
fn stale_lock_of_a_killed_process_is_recovered() {
    let dir = TempDir::new("stalelock");
    let mut child = spawn("hold", dir.path());
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        if line.unwrap().ends_with("ready") {
            break;
        }
    }
    assert!(matches!(
        open(dir.path(), OpenOptions::default()),
        Err(LogError::Locked(_))
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.path().join("LOCK").exists());
    let (log, ..) = open(dir.path(), OpenOptions::default()).unwrap();
    log.append(&[Entry::put(b"k", b"v")]).unwrap();
}
