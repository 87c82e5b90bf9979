//! k-of-n escrow with the real tools: sealpipe's shares rebuild with
//! Debian's gfcombine and restore with gpg; gfsplit's shares rebuild with
//! sealpipe; too few, damaged or mixed shares are refused.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

/// A backup to a daily key and a passphrase-protected escrow key, the
/// escrow key split 3 of 5 into `shares/`.
fn split_setup(env: &TestEnv) -> (TestKey, Vec<u8>, Vec<u8>) {
    fs::write(env.path("pw"), "escrow passphrase\n").unwrap();
    fs::set_permissions(env.path("pw"), fs::Permissions::from_mode(0o600)).unwrap();
    let daily = env.keygen("daily", &[]);
    let escrow = env.keygen("escrow", &["--passphrase-file", "pw"]);
    env.config(&[&daily, &escrow], &[&escrow], &[&daily]);
    let plain = sample_data(150_000);
    let backup = env.run(&["encrypt"], &plain).ok().stdout;
    let out = split_escrow_key(env, 3, 5, "shares").ok();
    assert!(String::from_utf8_lossy(&out.stdout).contains("any 3 rebuild it"));
    (escrow, plain, backup)
}

/// `sealpipe escrow split` of escrow.key.asc, `threshold` of `shares`, into `dir`.
fn split_escrow_key(env: &TestEnv, threshold: u8, shares: u8, dir: &str) -> Run {
    let (k, n) = (threshold.to_string(), shares.to_string());
    env.run(
        &[
            "escrow",
            "split",
            "--key",
            "escrow.key.asc",
            "--threshold",
            &k,
            "--shares",
            &n,
            "--out-dir",
            dir,
        ],
        b"",
    )
}

fn share(n: u8) -> String {
    format!("shares/escrow.key.asc.{n:03}")
}

fn tool(env: &TestEnv, program: &str, args: &[&str]) -> Run {
    let mut c = Command::new(program);
    c.args(args).current_dir(env.dir.path());
    run_with_stdin(c, b"")
}

#[test]
fn sealpipe_shares_rebuild_with_gfcombine_and_restore_with_gpg() {
    let env = TestEnv::new();
    let (escrow, plain, backup) = split_setup(&env);

    // Shares are secret files, the sheets printable and complete.
    for n in 1..=5 {
        let mode = fs::metadata(env.path(&share(n)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "share {n}");
        let sheet =
            fs::read_to_string(env.path(&format!("shares/sheet-escrow.key.asc.{n:03}.txt")))
                .unwrap();
        for field in [
            format!("Share: {n}\n"),
            "Threshold: 3\n".into(),
            "Shares: 5\n".into(),
            format!("Key fingerprint: {}\n", escrow.fingerprint),
            "gfcombine -o escrow.key.asc".into(),
            "sealpipe escrow combine -o escrow.key.asc".into(),
        ] {
            assert!(sheet.contains(&field), "{field:?} on sheet {n}:\n{sheet}");
        }
    }
    let key_sha256 = sha256_of(&env, "escrow.key.asc");
    let sheet = fs::read_to_string(env.path("shares/sheet-escrow.key.asc.002.txt")).unwrap();
    assert!(
        sheet.contains(&format!("Key SHA-256: {key_sha256}\n")),
        "{sheet}"
    );

    // Without sealpipe: gfcombine from any 3, then plain gpg restores.
    let r = tool(
        &env,
        "gfcombine",
        &["-o", "rebuilt.asc", &share(2), &share(4), &share(5)],
    );
    assert_eq!(r.status, 0, "gfcombine: {}", r.stderr);
    assert_eq!(
        fs::read(env.path("rebuilt.asc")).unwrap(),
        fs::read(&escrow.key).unwrap(),
        "gfcombine rebuilt the key file byte for byte"
    );
    let pw = env.path("pw");
    let pw = pw.to_str().unwrap();
    let r = env.gpg(&["--passphrase-file", pw, "--import", "rebuilt.asc"], b"");
    assert_eq!(r.status, 0, "gpg --import: {}", r.stderr);
    let out = env.gpg(&["--passphrase-file", pw, "-d"], &backup);
    assert_eq!(out.status, 0, "gpg -d: {}", out.stderr);
    assert!(shell("zstd -d", &out.stdout).stdout == plain);

    // Two shares of a 3-of-5 rebuild something else: not the key.
    let r = tool(
        &env,
        "gfcombine",
        &["-o", "short.asc", &share(1), &share(3)],
    );
    assert_eq!(r.status, 0, "gfcombine: {}", r.stderr);
    assert_ne!(
        fs::read(env.path("short.asc")).unwrap(),
        fs::read(&escrow.key).unwrap()
    );
}

#[test]
fn sealpipe_combine_checks_the_sheets() {
    let env = TestEnv::new();
    let (escrow, plain, backup) = split_setup(&env);
    let combine = |out: &str, shares: &[String]| {
        let mut args = vec!["escrow", "combine", "-o", out];
        args.extend(shares.iter().map(String::as_str));
        env.run(&args, b"")
    };

    // K shares: the key, checked against the sheets, restores.
    let out = combine("k.asc", &[share(5), share(1), share(3)]).ok();
    assert!(String::from_utf8_lossy(&out.stdout).contains("matches the sheet"));
    assert_eq!(
        fs::read(env.path("k.asc")).unwrap(),
        fs::read(&escrow.key).unwrap()
    );
    let mode = fs::metadata(env.path("k.asc"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let back = env
        .run(
            &["decrypt", "--key", "k.asc", "--passphrase-file", "pw"],
            &backup,
        )
        .ok()
        .stdout;
    assert!(back == plain);
    // Never overwritten.
    combine("k.asc", &[share(5), share(1), share(3)]).fails(2, "exists");

    // K-1 shares: refused by the sheet's count, nothing written.
    combine("short.asc", &[share(1), share(2)]).fails(2, "the sheet says 3 of 5");
    assert!(!env.path("short.asc").exists());

    // The same share twice is not two shares.
    combine("twice.asc", &[share(1), share(1), share(2)]).fails(2, "given twice");

    // A damaged share: its sheet's SHA-256 names it.
    let mut bytes = fs::read(env.path(&share(4))).unwrap();
    bytes[100] ^= 0x01;
    fs::write(env.path(&share(4)), &bytes).unwrap();
    combine("damaged.asc", &[share(2), share(3), share(4)]).fails(6, "share 4 does not match");
    assert!(!env.path("damaged.asc").exists());

    // The damaged share away from its sheet: the key's SHA-256 catches it.
    fs::create_dir(env.path("loose")).unwrap();
    fs::write(env.path("loose/escrow.key.asc.004"), &bytes).unwrap();
    combine(
        "damaged.asc",
        &[share(2), share(3), "loose/escrow.key.asc.004".into()],
    )
    .fails(6, "do not rebuild the expected key");
    assert!(!env.path("damaged.asc").exists());

    // A share of another split of the same key: the sheets tell them apart.
    split_escrow_key(&env, 3, 5, "again").ok();
    combine(
        "mixed.asc",
        &[share(1), share(2), "again/escrow.key.asc.003".into()],
    )
    .fails(6, "different splits");
    assert!(!env.path("mixed.asc").exists());

    // Splitting into a directory that holds shares already is refused whole.
    let before = fs::read(env.path(&share(1))).unwrap();
    split_escrow_key(&env, 2, 2, "shares").fails(2, "exists");
    assert_eq!(fs::read(env.path(&share(1))).unwrap(), before);
}

#[test]
fn gfsplit_shares_rebuild_with_sealpipe() {
    let env = TestEnv::new();
    let (_, escrow) = env.daily_and_escrow();
    let plain = sample_data(80_000);
    let backup = env.run(&["encrypt"], &plain).ok().stdout;

    fs::create_dir(env.path("gf")).unwrap();
    fs::copy(&escrow.key, env.path("gf/escrow.key.asc")).unwrap();
    let r = tool(
        &env,
        "gfsplit",
        &["-n", "2", "-m", "4", "gf/escrow.key.asc"],
    );
    assert_eq!(r.status, 0, "gfsplit: {}", r.stderr);
    fs::remove_file(env.path("gf/escrow.key.asc")).unwrap();
    // gfsplit numbers its shares at random: take the files it made.
    let mut shares: Vec<String> = fs::read_dir(env.path("gf"))
        .unwrap()
        .map(|e| format!("gf/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    shares.sort();
    assert_eq!(shares.len(), 4, "{shares:?}");

    let sha = sha256_of(&env, "escrow.key.asc");
    let combine = |out: &str, extra: &[&str], shares: &[String]| {
        let mut args = vec!["escrow", "combine", "-o", out];
        args.extend_from_slice(extra);
        args.extend(shares.iter().map(String::as_str));
        env.run(&args, b"")
    };
    // No sheet: sealpipe wants something to check the result against.
    combine("k.asc", &[], &shares[..2]).fails(2, "no share sheet");
    combine("k.asc", &["--expect-sha256", &sha], &shares[1..3]).ok();
    let back = env.run(&["decrypt", "--key", "k.asc"], &backup).ok().stdout;
    assert!(back == plain);

    // One share short of gfsplit's threshold: not the key, and said so.
    combine("one.asc", &["--expect-sha256", &sha], &shares[..1])
        .fails(6, "do not rebuild the expected key");
    combine("one.asc", &["--unverified"], &shares[..1])
        .fails(6, "do not rebuild an OpenPGP secret key");
    assert!(!env.path("one.asc").exists());
    // --unverified accepts a right set, checked only for being a secret key.
    let out = combine("u.asc", &["--unverified"], &shares[2..]).ok();
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT checked"));
}

#[test]
fn escrow_limits_are_enforced() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    split_escrow_key(&env, 4, 3, "shares").fails(2, "--threshold must be between 2 and --shares");
    // A cert is no escrow key.
    fs::copy(env.path("escrow.cert.asc"), env.path("cert-only.asc")).unwrap();
    fs::set_permissions(env.path("cert-only.asc"), fs::Permissions::from_mode(0o600)).unwrap();
    env.run(
        &[
            "escrow",
            "split",
            "--key",
            "cert-only.asc",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out-dir",
            "c",
        ],
        b"",
    )
    .fails(2, "no secret key");
    assert!(!env.path("c").exists());

    // A share larger than any key file (64 KiB) is not read.
    split_escrow_key(&env, 2, 3, "shares").ok();
    fs::write(env.path("big.001"), vec![7u8; 64 * 1024 + 1]).unwrap();
    fs::write(env.path("big.002"), vec![7u8; 64 * 1024]).unwrap();
    env.run(
        &[
            "escrow",
            "combine",
            "--unverified",
            "-o",
            "k.asc",
            "big.001",
            "big.002",
        ],
        b"",
    )
    .fails(2, "at most 65536 bytes");
    // A name without the share number is refused before anything is read.
    env.run(
        &[
            "escrow",
            "combine",
            "--unverified",
            "-o",
            "k.asc",
            "shares/escrow.key.asc.001",
            "escrow.key.asc",
        ],
        b"",
    )
    .fails(2, "ends in .NNN");
}

fn sha256_of(env: &TestEnv, file: &str) -> String {
    let mut c = Command::new("sha256sum");
    c.arg(file).current_dir(env.dir.path());
    let out = run_with_stdin(c, b"");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
