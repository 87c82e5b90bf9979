//! `-o FILE` where the easy path is not there: a filesystem without
//! O_TMPFILE (FUSE mounts: sshfs, s3fs, rclone; a real one here, bindfs),
//! where the output is a named `.sealpipe-*.part` until it is complete;
//! a stale temp name left by a killed run with the same pid; a destination
//! that appears while the backup is being written. Whatever happens, the
//! destination holds a whole backup or is untouched, and no temp file stays.

mod common;

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command};
use std::time::Duration;

use common::*;

/// Each run here takes well under a second; one still running after this
/// is looping (the temp-name search) and fails the test.
const LIMIT: Duration = Duration::from_secs(60);

/// A bindfs (FUSE) view of a directory, unmounted when dropped. FUSE has
/// no O_TMPFILE (open fails with EOPNOTSUPP), as NFS before 4.2 and CIFS.
struct FuseMount {
    at: PathBuf,
}

impl FuseMount {
    fn new(env: &TestEnv) -> FuseMount {
        let (below, at) = (env.path("below"), env.path("fuse"));
        fs::create_dir(&below).unwrap();
        fs::create_dir(&at).unwrap();
        let mounted = Command::new("bindfs").arg(&below).arg(&at).status();
        assert!(
            mounted.is_ok_and(|s| s.success()),
            "bindfs cannot mount (it needs root, /dev/fuse and the bindfs package: \
             scripts/deps.sh --for-tests)"
        );
        let mount = FuseMount { at };
        let tmpfile = fs::File::options()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .open(&mount.at);
        assert!(tmpfile.is_err(), "this FUSE mount has O_TMPFILE after all");
        mount
    }

    fn path(&self, name: &str) -> PathBuf {
        self.at.join(name)
    }

    /// Names in the mount that mark an unfinished output.
    fn partial_files(&self) -> Vec<String> {
        partial_files_in(&self.at)
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Let a run started by `encrypt_under_way` finish: it must fail to give
/// its output the destination's name.
#[track_caller]
fn finish_unable_to_move_into_place(child: Child, stdin: ChildStdin) {
    drop(stdin);
    let out = wait_within(child, LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot move the output into place"),
        "{stderr}"
    );
}

/// Where O_TMPFILE is missing, `-o` writes a named temp file beside the
/// destination: renamed into place complete, removed on a failure and on
/// a signal, never over a file that appeared meanwhile (without --force).
#[test]
fn an_output_on_fuse_is_a_named_temp_file_until_complete() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let mount = FuseMount::new(&env);
    let dest = mount.path("b.pgp");
    let dest_arg = dest.to_str().unwrap();

    // Under way: the named temp file is there, the destination is not.
    let (child, stdin) = encrypt_under_way(&env, &["encrypt", "-o", dest_arg], &mount.at);
    assert_eq!(
        mount.partial_files().len(),
        1,
        "{:?}",
        mount.partial_files()
    );
    assert!(!dest.exists());
    // SIGTERM: the signal handler removes it (no Drop runs).
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = wait_within(child, LIMIT);
    drop(stdin);
    assert_eq!(out.status.code(), Some(143));
    assert!(
        mount.partial_files().is_empty(),
        "{:?}",
        mount.partial_files()
    );
    assert!(!dest.exists());

    // Complete: renamed into place, 0600, and it restores.
    let plain = sample_data(300_000);
    env.run(&["encrypt", "-o", dest_arg], &plain).ok();
    assert_eq!(file_mode(&dest), 0o600);
    let restored = env.run(&["decrypt", dest_arg], b"").ok().stdout;
    assert!(restored == plain, "the renamed backup restores");
    assert!(
        mount.partial_files().is_empty(),
        "{:?}",
        mount.partial_files()
    );

    // A failed restore: no output, no temp file.
    let mut damaged = fs::read(&dest).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    let restore = mount.path("restored");
    env.run(&["decrypt", "-o", restore.to_str().unwrap()], &damaged)
        .fails(6, "integrity");
    assert!(!restore.exists());
    assert!(
        mount.partial_files().is_empty(),
        "{:?}",
        mount.partial_files()
    );

    // A file that appears at the destination while the backup is written
    // is not replaced (without --force): the run fails, the file stays.
    let late = mount.path("late.pgp");
    let (child, stdin) =
        encrypt_under_way(&env, &["encrypt", "-o", late.to_str().unwrap()], &mount.at);
    fs::write(&late, b"someone else's file").unwrap();
    finish_unable_to_move_into_place(child, stdin);
    assert_eq!(fs::read(&late).unwrap(), b"someone else's file");
    assert!(
        mount.partial_files().is_empty(),
        "{:?}",
        mount.partial_files()
    );

    // With --force it is replaced, by a rename.
    env.run(&["encrypt", "-f", "-o", late.to_str().unwrap()], &plain)
        .ok();
    let restored = env
        .run(&["decrypt", late.to_str().unwrap()], b"")
        .ok()
        .stdout;
    assert!(restored == plain, "--force replaced the file");
    assert!(
        mount.partial_files().is_empty(),
        "{:?}",
        mount.partial_files()
    );
}

/// `--force` links the finished output under `.sealpipe-PID-N.part` and
/// renames it over the old file. A name left by a killed run with the
/// same pid is skipped, never removed or overwritten; after 100 taken
/// names the run fails rather than search on, and the old file stays.
#[test]
fn force_skips_stale_temp_names_of_a_killed_run_and_gives_up_after_100() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let dest = env.path("b.pgp");
    fs::write(&dest, b"last night's backup").unwrap();
    let stale = |pid: u32, n: u32| env.path(&format!(".sealpipe-{pid}-{n}.part"));

    // One stale name: skipped.
    let (child, stdin) = encrypt_under_way(&env, &["encrypt", "-f", "-o", "b.pgp"], env.dir.path());
    let pid = child.id();
    fs::write(stale(pid, 0), b"stale").unwrap();
    drop(stdin);
    let out = wait_within(child, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(stale(pid, 0)).unwrap(),
        b"stale",
        "the stale file stays"
    );
    assert_eq!(
        partial_files_in(env.dir.path()),
        [format!(".sealpipe-{pid}-0.part")]
    );
    let restored = env.run(&["decrypt", "b.pgp"], b"").ok().stdout;
    assert!(restored == sample_data(1 << 20), "b.pgp is the new backup");
    fs::remove_file(stale(pid, 0)).unwrap();

    // 101 stale names (0 to 100): no free one within the limit.
    let before = fs::read(&dest).unwrap();
    let (child, stdin) = encrypt_under_way(&env, &["encrypt", "-f", "-o", "b.pgp"], env.dir.path());
    let pid = child.id();
    for n in 0..=100 {
        fs::write(stale(pid, n), b"stale").unwrap();
    }
    finish_unable_to_move_into_place(child, stdin);
    assert_eq!(fs::read(&dest).unwrap(), before, "the old backup stays");
    assert_eq!(partial_files_in(env.dir.path()).len(), 101);
}

/// Where O_TMPFILE works (the finished file is linked in, never renamed
/// over), a file that appears at the destination while the backup is
/// written is not replaced either: the run fails, the file stays, and no
/// temp name is left.
#[test]
fn a_file_that_appears_meanwhile_is_kept_without_force() {
    let env = TestEnv::new();
    env.daily_and_escrow();
    let (child, stdin) = encrypt_under_way(&env, &["encrypt", "-o", "b.pgp"], env.dir.path());
    fs::write(env.path("b.pgp"), b"someone else's file").unwrap();
    finish_unable_to_move_into_place(child, stdin);
    assert_eq!(fs::read(env.path("b.pgp")).unwrap(), b"someone else's file");
    assert!(partial_files_in(env.dir.path()).is_empty());
}
