//! The disk store against real files in a temp dir: reload, bounds, damage, TTL, compaction.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::record::{self, Decoded, Record, RoomHead};
use super::{Disk, Fsync, Options};
use crate::hub::store::{Epoch, Settings, Store};

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("loopcast-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn options() -> Options {
    Options {
        fsync: Fsync::Turn,
        room_ttl: Duration::from_secs(3600),
        max_disk: 64 << 20,
        history_bytes: 1 << 20,
    }
}

fn open(dir: &Path) -> Disk {
    Disk::open(dir, options(), Instant::now(), 1_000).unwrap()
}

fn settings(epoch: u64, cap: usize) -> Settings {
    Settings {
        epoch: Epoch::from_raw(epoch).unwrap(),
        cap,
        max_members: Some(5),
        created: true,
        owner: Some("alice".into()),
        password: Some(vec![7; 48]),
    }
}

fn event(room: &str, seq: u64) -> String {
    format!(r#"{{"event":"message","room":"{room}","seq":{seq},"message":"m{seq}"}}"#)
}

/// Writes `n` messages to `room` in turns of 3.
fn fill(disk: &mut Disk, room: &str, from: u64, to: u64) {
    for seq in from..=to {
        disk.appended(room, seq, &event(room, seq));
        if seq % 3 == 0 {
            disk.commit(Instant::now());
        }
    }
    disk.commit(Instant::now());
}

fn seqs(disk: &mut Disk, room: &str) -> (u64, Vec<u64>) {
    let saved = disk.load(room, 1 << 20).expect("room kept");
    let seqs = saved.history.iter().map(|(s, _)| s).collect();
    (saved.history.seq(), seqs)
}

fn journal(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("journal.")
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

#[test]
fn records_round_trip_and_damage_is_detected() {
    let head = RoomHead {
        epoch: 9,
        seq: 4,
        cap: 32,
        max_members: 0,
        created: false,
        owner: String::new(),
        password: vec![1, 2, 3],
    };
    let mut buf = Vec::new();
    record::write_room(&mut buf, "r", &head);
    let (at, len) = record::write_msg(&mut buf, "r", 5, "hello");
    assert_eq!(&buf[at..at + len], b"hello");
    let Decoded::Record(rec, used) = record::decode(&buf) else {
        panic!("not a record")
    };
    assert_eq!(rec, Record::Room { name: "r", head });
    let rest = &buf[used..];
    assert_eq!(
        record::decode(rest),
        Decoded::Record(
            Record::Msg {
                name: "r",
                seq: 5,
                event: "hello"
            },
            rest.len()
        )
    );
    assert_eq!(used + record::msg_event_offset("r"), at);
    assert_eq!(record::decode(&rest[..rest.len() - 1]), Decoded::Short);
    let mut flipped = rest.to_vec();
    flipped[12] ^= 0x10;
    assert_eq!(record::decode(&flipped), Decoded::Corrupt);
    // The standard check value of CRC-32/IEEE.
    assert_eq!(record::crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn rooms_and_history_survive_a_reopen() {
    let dir = TempDir::new("reopen");
    {
        let mut disk = open(&dir.0);
        disk.started("a", &settings(11, 4));
        disk.started("b", &settings(12, 32));
        fill(&mut disk, "a", 1, 10);
        fill(&mut disk, "b", 1, 2);
        disk.emptied("b", 5_000);
        disk.commit(Instant::now());
    }
    let mut disk = open(&dir.0);
    assert!(disk.contains("a") && disk.contains("b") && !disk.contains("c"));
    assert_eq!(seqs(&mut disk, "a"), (10, vec![7, 8, 9, 10]));
    let b = disk.load("b", 1 << 20).unwrap();
    assert_eq!(b.settings, settings(12, 32));
    let events: Vec<&str> = b.history.after(None).0.collect();
    assert_eq!(events, [event("b", 1), event("b", 2)]);
    assert_eq!(b.history.epoch(), Epoch::from_raw(12).unwrap());
    // Appending after a reload continues the seq.
    fill(&mut disk, "a", 11, 12);
    drop(disk);
    let mut disk = open(&dir.0);
    assert_eq!(seqs(&mut disk, "a"), (12, vec![9, 10, 11, 12]));
}

#[test]
fn a_torn_last_record_is_dropped_and_the_rest_served() {
    let dir = TempDir::new("torn");
    {
        let mut disk = open(&dir.0);
        disk.started("a", &settings(3, 100));
        fill(&mut disk, "a", 1, 20);
    }
    let path = journal(&dir.0);
    let len = fs::metadata(&path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let mut disk = open(&dir.0);
    let (seq, kept) = seqs(&mut disk, "a");
    assert_eq!(seq, 19);
    assert_eq!(kept, (1..=19).collect::<Vec<_>>());
    // The damage was rewritten away: new messages follow the intact ones.
    fill(&mut disk, "a", 20, 21);
    drop(disk);
    let mut disk = open(&dir.0);
    assert_eq!(seqs(&mut disk, "a").1, (1..=21).collect::<Vec<_>>());
}

#[test]
fn a_flipped_bit_costs_that_record_only() {
    let dir = TempDir::new("flip");
    {
        let mut disk = open(&dir.0);
        disk.started("a", &settings(3, 100));
        disk.started("b", &settings(4, 100));
        fill(&mut disk, "a", 1, 10);
        fill(&mut disk, "b", 1, 10);
    }
    let path = journal(&dir.0);
    let mut bytes = fs::read(&path).unwrap();
    // Damage message 5 of room a.
    let needle = event("a", 5);
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap();
    bytes[at + 3] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let mut disk = open(&dir.0);
    // Room a keeps what follows the hole (history is contiguous); b is whole.
    assert_eq!(seqs(&mut disk, "a"), (10, (6..=10).collect::<Vec<_>>()));
    assert_eq!(seqs(&mut disk, "b"), (10, (1..=10).collect::<Vec<_>>()));
}

#[test]
fn garbage_instead_of_a_journal_starts_empty_and_keeps_it_aside() {
    let dir = TempDir::new("garbage");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join("journal.3"), b"this is not a journal").unwrap();
    let mut disk = open(&dir.0);
    assert_eq!(disk.health().rooms, 0);
    assert!(dir.0.join("journal.3.unreadable").exists());
    disk.started("a", &settings(1, 4));
    fill(&mut disk, "a", 1, 1);
    drop(disk);
    assert_eq!(seqs(&mut open(&dir.0), "a").1, [1]);
}

#[test]
fn a_file_where_the_dir_should_be_and_a_second_server_are_refused() {
    let dir = TempDir::new("file");
    fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("data");
    fs::write(&file, b"x").unwrap();
    assert!(Disk::open(&file, options(), Instant::now(), 0).is_err());
    let held = open(&dir.0);
    let second = Disk::open(&dir.0, options(), Instant::now(), 0).unwrap_err();
    assert!(second.to_string().contains("another"), "{second}");
    drop(held);
}

#[test]
fn idle_rooms_expire_after_the_ttl_but_created_ones_stay() {
    let dir = TempDir::new("ttl");
    let mut disk = open(&dir.0);
    let made_by_join = Settings {
        created: false,
        owner: None,
        ..settings(5, 8)
    };
    disk.started("joined", &made_by_join);
    disk.started("made", &settings(6, 8));
    fill(&mut disk, "joined", 1, 2);
    fill(&mut disk, "made", 1, 2);
    disk.emptied("joined", 10_000);
    disk.emptied("made", 10_000);
    let now = Instant::now();
    disk.handle_timeout(now, 10_000 + 3_599_000);
    assert!(disk.contains("joined"));
    disk.next_sweep = now;
    disk.handle_timeout(now, 10_000 + 3_600_000);
    assert!(!disk.contains("joined") && disk.contains("made"));
    drop(disk);
    let disk = open(&dir.0);
    assert!(!disk.contains("joined") && disk.contains("made"));
}

#[test]
fn compaction_keeps_only_what_is_kept() {
    let dir = TempDir::new("compact");
    let mut disk = open(&dir.0);
    disk.options.fsync = Fsync::Never;
    disk.started("a", &settings(3, 4));
    let big = "x".repeat(2000);
    for seq in 1..=1200 {
        disk.appended("a", seq, &format!("{seq}:{big}"));
        disk.commit(Instant::now());
    }
    let size = fs::metadata(journal(&dir.0)).unwrap().len();
    assert!(size < 3 << 20, "compacted: {size} bytes");
    assert_eq!(disk.health().disk_bytes, size);
    let saved = disk.load("a", 1 << 20).unwrap();
    let first = saved.history.after(None).0.next().unwrap().to_owned();
    assert!(first.starts_with("1197:"), "{}", &first[..10]);
    drop(disk);
    assert_eq!(
        seqs(&mut open(&dir.0), "a"),
        (1200, vec![1197, 1198, 1199, 1200])
    );
}

#[test]
fn deleted_rooms_are_gone_after_a_reopen() {
    let dir = TempDir::new("delete");
    {
        let mut disk = open(&dir.0);
        disk.started("a", &settings(3, 4));
        fill(&mut disk, "a", 1, 3);
        disk.deleted("a");
        disk.commit(Instant::now());
    }
    assert!(!open(&dir.0).contains("a"));
}

#[test]
fn an_unwritable_journal_degrades_to_memory() {
    let dir = TempDir::new("fail");
    let mut disk = open(&dir.0);
    disk.started("a", &settings(3, 4));
    // A journal that cannot be written, as a full or failed disk would be.
    disk.file = fs::File::open(journal(&dir.0)).unwrap();
    disk.appended("a", 1, &event("a", 1));
    disk.commit(Instant::now());
    let health = disk.health();
    assert!(health.failed.is_some() && health.errors == 1, "{health:?}");
    disk.appended("a", 2, &event("a", 2));
    disk.commit(Instant::now());
    assert_eq!(disk.health().errors, 1, "no retry storm");
}

#[test]
fn after_a_failure_rooms_get_a_new_epoch_when_read_back_and_after_a_restart() {
    let dir = TempDir::new("fail-epoch");
    let mut disk = open(&dir.0);
    for room in ["a", "b"] {
        disk.started(room, &settings(3, 8));
    }
    fill(&mut disk, "a", 1, 4);
    fill(&mut disk, "b", 1, 2);
    disk.file = fs::File::open(journal(&dir.0)).unwrap();
    // These reach clients, but never the journal.
    disk.appended("a", 5, &event("a", 5));
    disk.commit(Instant::now());
    assert!(disk.health().failed.is_some());
    disk.appended("a", 6, &event("a", 6));
    disk.emptied("a", 2_000);
    let back = disk.load("a", 1 << 20).unwrap();
    assert_eq!(back.history.seq(), 6, "seq goes on");
    assert_ne!(
        back.settings.epoch.get(),
        3,
        "memory was ahead of the journal"
    );
    let b = disk.load("b", 1 << 20).unwrap();
    assert_eq!(
        b.settings.epoch.get(),
        3,
        "nothing of b was lost in this run"
    );
    disk.close(Instant::now());
    drop(disk);
    // The next start cannot know which rooms lost what: all get a new epoch,
    // and keep their stored history and seq.
    let mut disk = open(&dir.0);
    assert!(disk.health().failed.is_none());
    let (seq, kept) = seqs(&mut disk, "a");
    assert_eq!((seq, kept), (4, vec![1, 2, 3, 4]));
    for room in ["a", "b"] {
        let epoch = disk.load(room, 1 << 20).unwrap().settings.epoch.get();
        assert_ne!(epoch, 3, "{room}");
    }
    disk.close(Instant::now());
    drop(disk);
    // A clean run after that keeps the epochs it has.
    let mut disk = open(&dir.0);
    let first = disk.load("b", 1 << 20).unwrap().settings.epoch;
    disk.close(Instant::now());
    drop(disk);
    let mut disk = open(&dir.0);
    assert_eq!(disk.load("b", 1 << 20).unwrap().settings.epoch, first);
}

#[test]
fn a_reboot_under_a_run_that_did_not_sync_every_turn_renews_epochs() {
    let dir = TempDir::new("reboot-epoch");
    let mut disk = Disk::open(
        &dir.0,
        Options {
            fsync: Fsync::Never,
            ..options()
        },
        Instant::now(),
        1,
    )
    .unwrap();
    disk.started("a", &settings(3, 8));
    fill(&mut disk, "a", 1, 2);
    drop(disk); // killed: no clean stop
    // Same boot: a crash of the process alone loses nothing that was written.
    let mut disk = open(&dir.0);
    assert_eq!(disk.load("a", 1 << 20).unwrap().settings.epoch.get(), 3);
    drop(disk);
    // As a power cut would leave it: another boot id, the last run unsynced.
    let (state, _) = super::state::State::open(&dir.0).unwrap();
    state.start(Fsync::Interval, "another-boot").unwrap();
    drop(state);
    let mut disk = open(&dir.0);
    assert_ne!(disk.load("a", 1 << 20).unwrap().settings.epoch.get(), 3);
}

#[test]
fn a_compaction_spread_over_turns_keeps_what_changed_meanwhile() {
    let dir = TempDir::new("compact-steps");
    let mut disk = open(&dir.0);
    disk.options.fsync = Fsync::Never;
    let names: Vec<String> = (0..50).map(|r| format!("r{r}")).collect();
    for name in &names {
        disk.started(name, &settings(3, 8));
    }
    let big = "y".repeat(2000);
    let text = |name: &str, seq: u64| format!("{name}:{seq}:{big}");
    let (mut spread, mut longest_run, mut run) = (0, 0, 0);
    for seq in 1..=80u64 {
        for name in &names {
            if seq <= 40 || name != "r0" {
                disk.appended(name, seq, &text(name, seq));
            }
        }
        if seq == 40 {
            // Changes while a copy may be under way: a room deleted, one started over.
            disk.deleted("r0");
            disk.started("r1", &settings(9, 8));
        }
        disk.commit(Instant::now());
        if disk.compaction.is_some() {
            spread += 1;
            run += 1;
            longest_run = longest_run.max(run);
        } else {
            run = 0;
        }
    }
    assert!(
        longest_run >= 2,
        "a compaction took several turns ({spread})"
    );
    let check = |disk: &mut Disk| {
        assert!(!disk.contains("r0"));
        for name in &names[1..] {
            let saved = disk.load(name, 1 << 20).unwrap();
            let want: Vec<String> = (73..=80).map(|s| text(name, s)).collect();
            let got: Vec<String> = saved.history.after(None).0.map(str::to_owned).collect();
            assert_eq!(got.len(), 8, "{name}");
            if name == "r1" {
                // Started over at seq 40 (epoch 9): its appends after that are seqs 41..
                assert_eq!(saved.settings.epoch.get(), 9);
            }
            assert!(got == want, "{name}: {:?}", &got[0][..12]);
            assert_eq!(saved.history.seq(), 80);
        }
    };
    check(&mut disk);
    drop(disk);
    let size = fs::metadata(journal(&dir.0)).unwrap().len();
    assert!(size < 4 << 20, "compacted: {size} bytes");
    check(&mut open(&dir.0));
}
