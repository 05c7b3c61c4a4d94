//! The storage choice, measured: per-message cost of an append-only checksummed log vs redb, in turns of N messages.
use std::io::Write;
use std::time::Instant;

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args[1].as_str();
    let sync = args[2] == "fsync";
    let msgs: usize = args[3].parse().unwrap();
    let per_turn: usize = args[4].parse().unwrap();
    let dir = std::path::Path::new(&args[5]);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let event = format!(
        r#"{{"event":"message","from":"alice","room":"lobby","seq":{},"ts":1732260000123,"message":"{}"}}"#,
        12345,
        "x".repeat(60)
    );
    let t = Instant::now();
    match which {
        "log" => {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("log")).unwrap();
            let mut buf = Vec::new();
            let mut seq = 0u64;
            for _ in 0..msgs / per_turn {
                buf.clear();
                for _ in 0..per_turn {
                    seq += 1;
                    let start = buf.len();
                    buf.extend_from_slice(&[0; 8]);
                    buf.push(2);
                    buf.extend_from_slice(b"\x05lobby");
                    buf.extend_from_slice(&seq.to_le_bytes());
                    buf.extend_from_slice(event.as_bytes());
                    let len = (buf.len() - start - 8) as u32;
                    let crc = crc32(&buf[start + 8..]);
                    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
                    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
                }
                f.write_all(&buf).unwrap();
                if sync {
                    f.sync_data().unwrap();
                }
            }
        }
        #[cfg(feature = "redb")]
        "redb" => {
            use redb::{Database, Durability, ReadableDatabase, TableDefinition};
            const T: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("h");
            let db = Database::create(dir.join("db")).unwrap();
            let mut seq = 0u64;
            for _ in 0..msgs / per_turn {
                let mut tx = db.begin_write().unwrap();
                tx.set_durability(if sync { Durability::Immediate } else { Durability::None }).unwrap();
                {
                    let mut table = tx.open_table(T).unwrap();
                    for _ in 0..per_turn {
                        seq += 1;
                        table.insert(("lobby", seq), event.as_bytes()).unwrap();
                        if seq > 32 {
                            table.remove(("lobby", seq - 32)).unwrap();
                        }
                    }
                }
                tx.commit().unwrap();
            }
            let _ = db.begin_read();
        }
        _ => panic!("log or redb"),
    }
    let e = t.elapsed();
    println!(
        "{which} {} {msgs} msgs, {per_turn}/turn: {:.2} us/msg, {:.1} us/turn",
        args[2],
        e.as_secs_f64() * 1e6 / msgs as f64,
        e.as_secs_f64() * 1e6 / (msgs / per_turn) as f64
    );
}
