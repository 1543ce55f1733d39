//! Files inside the sandbox, and host paths shared with it.

mod common;

use common::{sandbox, sandbox_with, text};
use msb::{Config, ErrorCode, FileType};

#[test]
fn write_read_stat_list_rename_remove() {
    let sb = match sandbox("files") {
        Some(s) => s,
        None => return,
    };
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    sb.make_dir("/workspace/d/e").unwrap();
    sb.write_file("/workspace/d/bin", &data).unwrap();
    assert_eq!(sb.read_file("/workspace/d/bin").unwrap(), data);
    // relative paths are relative to the workdir; the command sees the file
    let r = sb.execute("wc -c d/bin").unwrap();
    assert_eq!(text(&r.stdout), "100000 d/bin\n");

    let st = sb.stat("/workspace/d/bin").unwrap();
    assert!(st.is_file && !st.is_dir);
    assert_eq!(st.file_type, FileType::File);
    assert_eq!(st.size, 100_000);
    assert_eq!(st.mode & 0o777, 0o644);
    assert!(st.modified_ms.unwrap() > 1_600_000_000_000);
    assert!(sb.stat("/workspace/d").unwrap().is_dir);

    sb.write_file("/workspace/d/empty", b"").unwrap();
    assert_eq!(sb.read_file("/workspace/d/empty").unwrap(), b"");
    sb.execute("ln -s /etc/passwd /workspace/d/link").unwrap();

    let names: Vec<(String, FileType)> = sb
        .list_dir("/workspace/d")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.file_type))
        .collect();
    assert_eq!(
        names,
        vec![
            ("bin".to_string(), FileType::File),
            ("e".to_string(), FileType::Dir),
            ("empty".to_string(), FileType::File),
            ("link".to_string(), FileType::Symlink),
        ]
    );

    assert!(sb.file_exists("/workspace/d/bin").unwrap());
    sb.rename("/workspace/d/bin", "/workspace/d/moved").unwrap();
    assert!(!sb.file_exists("/workspace/d/bin").unwrap());
    assert_eq!(sb.read_file("/workspace/d/moved").unwrap().len(), 100_000);
    sb.remove_file("/workspace/d/moved").unwrap();
    assert!(!sb.file_exists("/workspace/d/moved").unwrap());

    // a non-empty directory needs remove_dir_all
    assert!(sb.remove_file("/workspace/d").is_err());
    sb.remove_dir_all("/workspace/d").unwrap();
    assert!(!sb.file_exists("/workspace/d").unwrap());
}

#[test]
fn file_errors_carry_codes_and_libmsb_details() {
    let sb = match sandbox("file_errors") {
        Some(s) => s,
        None => return,
    };
    let e = sb.read_file("/workspace/missing").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::FileNotFound), "{}", e);
    assert!(e.message().contains("missing"), "{}", e.message());

    sb.write_file("/workspace/f", b"x").unwrap();
    let e = sb.list_dir("/workspace/f/sub").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotDirectory), "{}", e);
    assert!(e.hint().is_some(), "{}", e);

    // the read-only system directories
    let e = sb.write_file("/usr/bin/evil", b"x").unwrap_err();
    assert!(
        matches!(
            e.code(),
            Some(ErrorCode::FilePermissionDenied) | Some(ErrorCode::InvalidConfig)
        ),
        "{}",
        e
    );
    assert!(!sb.file_exists("/usr/bin/evil").unwrap());
    // across mounts rename is refused
    let e = sb.rename("/workspace/f", "/tmp/f").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidConfig), "{}", e);
    assert!(sb.read_file("/workspace/f\0").is_err());
}

#[test]
fn symlinks_do_not_escape_the_sandbox() {
    let sb = match sandbox("symlink_escape") {
        Some(s) => s,
        None => return,
    };
    // a planted link to a host path, and one through /proc: reading through
    // them stays inside (the sandbox's /etc/hostname holds its own name)
    sb.execute("ln -s /../../../../etc/hostname /workspace/l").unwrap();
    sb.execute("ln -s /proc/1/root/../../etc/hostname /workspace/p").unwrap();
    let host = std::fs::read("/etc/hostname").unwrap_or_default();
    let inside = sb.read_file("/workspace/l").unwrap();
    assert_eq!(text(&inside).trim(), sb.name());
    assert!(inside != host, "read the host's /etc/hostname");
    if let Ok(data) = sb.read_file("/workspace/p") {
        assert!(data != host, "read the host's /etc/hostname through /proc");
    }
    assert_eq!(sb.stat("/workspace/l").unwrap().file_type, FileType::Symlink);
}

#[test]
fn fs_readwrite_shares_a_host_directory() {
    let dir = std::env::temp_dir().join(format!("msb-rs-rw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in.txt"), b"from the host").unwrap();
    let config = Config::builder().fs_readwrite([dir.clone()]).build();
    let sb = match sandbox_with("fs_readwrite", config) {
        Some(s) => s,
        None => {
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    };
    let p = dir.to_str().unwrap();
    assert_eq!(sb.read_file(&format!("{}/in.txt", p)).unwrap(), b"from the host");
    sb.write_file(&format!("{}/out.txt", p), b"from the sandbox").unwrap();
    assert_eq!(std::fs::read(dir.join("out.txt")).unwrap(), b"from the sandbox");
    drop(sb);

    let ro = Config::builder().fs_readonly([dir.clone()]).build();
    if let Some(sb) = sandbox_with("fs_readonly", ro) {
        assert_eq!(sb.read_file(&format!("{}/in.txt", p)).unwrap(), b"from the host");
        assert!(sb.write_file(&format!("{}/no.txt", p), b"x").is_err());
        assert!(!dir.join("no.txt").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
