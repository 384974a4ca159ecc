//! Hostile secret packages: each is rejected with a clear error and the target folder is left
//! byte-for-byte unchanged (no temporary folders left behind either). Plus packing determinism
//! and the happy path of extraction.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use harness::package::{Limits, SecretsError};
use harness::setup::secrets;

const NS: &str = "financial-ml";
const PKG: &str = "financial-ml-models-secrets-20250704.tar.gz";

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A tar entry written with a raw header (so names like `/etc/x` and `../x` get through).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    CharDevice(&'a str),
    Fifo(&'a str),
}

fn raw_header(name: &str, ty: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let gnu = h.as_gnu_mut().expect("gnu header");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(ty);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h
}

fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let (mut h, data): (tar::Header, &[u8]) = match e {
            Entry::File(n, d) => (raw_header(n, tar::EntryType::Regular, d.len() as u64), d),
            Entry::Dir(n) => (raw_header(n, tar::EntryType::Directory, 0), b""),
            Entry::Symlink(n, t) => {
                let mut h = raw_header(n, tar::EntryType::Symlink, 0);
                h.set_link_name(t).unwrap();
                (h, b"")
            }
            Entry::Hardlink(n, t) => {
                let mut h = raw_header(n, tar::EntryType::Link, 0);
                h.as_gnu_mut().unwrap().linkname[..t.len()].copy_from_slice(t.as_bytes());
                (h, b"")
            }
            Entry::CharDevice(n) => (raw_header(n, tar::EntryType::Char, 0), b""),
            Entry::Fifo(n) => (raw_header(n, tar::EntryType::Fifo, 0), b""),
        };
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

const KUSTOMIZATION: &[u8] = b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - secret.yaml\n";
const SECRET: &[u8] = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: harness-models-s3\nstringData:\n  s3: |\n    type: s3\n    name: s3\n    parameters:\n      secret_access_key: planted-TEST-value-91\n";

/// A valid package plus `extra` entries.
fn package_with(extra: Vec<Entry<'_>>) -> Vec<u8> {
    let mut entries = vec![
        Entry::Dir("production/"),
        Entry::File("production/kustomization.yaml", KUSTOMIZATION),
        Entry::File("production/secret.yaml", SECRET),
    ];
    entries.extend(extra);
    tar_gz(&entries)
}

/// A gzip stream of a tar holding one 1 GiB file of zeros, deflated by hand (fixed Huffman,
/// 258-byte matches at distance 1): ~7 MB, built in milliseconds. The CRC is deliberately not
/// computed: a reader that inflated to the end would fail with a checksum error, not the limit.
fn gigabyte_of_zeros() -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, bits: u32) {
            let rev = code.reverse_bits() >> (32 - bits);
            self.put(rev as u64, bits);
        }
        fn literal(&mut self, b: u8) {
            if b <= 143 {
                self.code(0x30 + b as u32, 8);
            } else {
                self.code(0x190 + (b as u32 - 144), 9);
            }
        }
    }
    let size: u64 = 1 << 30;
    let mut h = raw_header("production/zeros.yaml", tar::EntryType::Regular, size);
    h.set_cksum();
    let mut w = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    w.put(1, 1); // BFINAL
    w.put(1, 2); // fixed Huffman
    for b in h.as_bytes() {
        w.literal(*b);
    }
    let zeros = size + 1024; // the file, then the end-of-archive blocks
    w.literal(0);
    let matches = (zeros - 1) / 258;
    for _ in 0..matches {
        w.code(0xC5, 8); // length 258 (symbol 285)
        w.code(0, 5); // distance 1
    }
    for _ in 0..(zeros - 1 - matches * 258) {
        w.literal(0);
    }
    w.code(0, 7); // end of block
    w.put(0, 7);
    let total = 512 + zeros;
    w.out.extend_from_slice(&[0, 0, 0, 0]);
    w.out.extend_from_slice(&(total as u32).to_le_bytes());
    w.out
}

fn many_entries(n: usize) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for i in 0..n {
        let mut h = raw_header(&format!("production/f{i}"), tar::EntryType::Regular, 0);
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// Every file under `dir` with its bytes (folders as empty markers).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if p.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    file_name: &'static str,
    /// A substring the error must contain.
    expect: &'static str,
    /// Whether the case needs `kubectl kustomize` to be detected.
    needs_kubectl: bool,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: &'static str) -> Case {
    Case {
        name,
        bytes,
        file_name: PKG,
        expect,
        needs_kubectl: false,
    }
}

fn overlay(files: Vec<(&'static str, &'static [u8])>) -> Vec<u8> {
    let mut entries = vec![Entry::Dir("production/")];
    entries.extend(files.into_iter().map(|(n, d)| Entry::File(n, d)));
    tar_gz(&entries)
}

const SEALED_KUSTOMIZATION: &[u8] = b"resources:\n  - sealed.yaml\n";

/// A SealedSecret in an overlay (ciphertext is opaque to these checks).
fn sealed_case(name: &'static str, sealed: &'static [u8], expect: &'static str) -> Case {
    Case {
        needs_kubectl: true,
        ..case(
            name,
            overlay(vec![
                ("production/kustomization.yaml", SEALED_KUSTOMIZATION),
                ("production/sealed.yaml", sealed),
            ]),
            expect,
        )
    }
}

/// The hostile-package rules hold for SealedSecrets too, plus their own (template namespace and
/// name, the deprecated single blob, the API version).
fn sealed_cases() -> Vec<Case> {
    vec![
        sealed_case(
            "sealed for another namespace",
            b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: stolen\n  namespace: financial-mlops-pytorch\nspec:\n  encryptedData:\n    k: AgBy\n",
            "SealedSecret financial-mlops-pytorch/stolen targets namespace `financial-mlops-pytorch`",
        ),
        sealed_case(
            "sealed template for another namespace",
            b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  encryptedData:\n    k: AgBy\n  template:\n    metadata:\n      namespace: kube-system\n",
            "(spec.template.metadata.namespace) targets namespace `kube-system`",
        ),
        sealed_case(
            "sealed template renames the Secret",
            b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  encryptedData:\n    k: AgBy\n  template:\n    metadata:\n      name: seldon-rclone-gs-public\n",
            "a SealedSecret unseals under its own name",
        ),
        sealed_case(
            "deprecated sealed blob",
            b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  data: AgBy\n",
            "deprecated `spec.data`",
        ),
        sealed_case(
            "sealed without values",
            b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  encryptedData: {}\n",
            "has no spec.encryptedData",
        ),
        sealed_case(
            "sealed under another API version",
            b"apiVersion: bitnami.com/v1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  encryptedData:\n    k: AgBy\n",
            "SealedSecrets are `bitnami.com/v1alpha1`",
        ),
        Case {
            needs_kubectl: true,
            ..case(
                "kustomize moves a SealedSecret to another namespace",
                overlay(vec![
                    (
                        "production/kustomization.yaml",
                        b"namespace: financial-mlops-pytorch\nresources:\n  - sealed.yaml\n",
                    ),
                    (
                        "production/sealed.yaml",
                        b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  encryptedData:\n    k: AgBy\n",
                    ),
                ]),
                "targets namespace `financial-mlops-pytorch`",
            )
        },
    ]
}

#[test]
fn a_sealed_package_extracts_with_its_marks_on_the_template() {
    if !kubectl_available() {
        eprintln!("kubectl not found: skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(PKG);
    std::fs::write(
        &pkg,
        overlay(vec![
            ("production/kustomization.yaml", SEALED_KUSTOMIZATION),
            (
                "production/sealed.yaml",
                b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: creds\nspec:\n  encryptedData:\n    k: AgBy\n  template:\n    type: Opaque\n",
            ),
        ]),
    )
    .unwrap();
    let r = secrets::unpack(
        &pkg,
        &tmp.path().join("work"),
        NS,
        "production",
        Limits::default(),
    )
    .unwrap();
    assert_eq!(r.secret_names(), ["creds"]);
    let o = &r.objects[0];
    assert_eq!(o["metadata"]["namespace"], NS);
    let label = secrets::package_label_value(PKG);
    assert_eq!(
        o["metadata"]["labels"][secrets::PACKAGE_LABEL],
        label.as_str()
    );
    // The Secret the controller makes from the template carries the package's marks too.
    assert_eq!(
        o["spec"]["template"]["metadata"]["labels"][secrets::PACKAGE_LABEL],
        label.as_str()
    );
    assert_eq!(
        o["spec"]["template"]["metadata"]["annotations"][secrets::PACKAGE_ANNOTATION],
        PKG
    );
}

#[test]
fn hostile_packages_are_rejected_and_nothing_is_written() {
    let role: &[u8] = b"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: sneaky\nrules: []\n";
    let foreign: &[u8] = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n  namespace: financial-mlops-pytorch\nstringData:\n  k: planted-TEST-value-91\n";
    let mut cases = vec![
        case(
            "absolute path",
            package_with(vec![Entry::File("/tmp/harness-evil", b"x")]),
            "is an absolute path",
        ),
        case(
            "parent dir",
            package_with(vec![Entry::File("production/../../../evil", b"x")]),
            "contains `..`",
        ),
        case(
            "symlink out",
            package_with(vec![Entry::Symlink(
                "production/link",
                "../../../../etc/passwd",
            )]),
            "is a link",
        ),
        case(
            "hardlink out",
            package_with(vec![Entry::Hardlink("production/hard", "/etc/passwd")]),
            "is a link",
        ),
        case(
            "device node",
            package_with(vec![Entry::CharDevice("production/null")]),
            "device file",
        ),
        case(
            "fifo",
            package_with(vec![Entry::Fifo("production/pipe")]),
            "device file or fifo",
        ),
        case(
            "1 GiB of zeros",
            gigabyte_of_zeros(),
            "uncompressed contents exceed",
        ),
        case(
            "100k entries",
            many_entries(100_000),
            "more than 1000 entries",
        ),
        case(
            "duplicate entry",
            package_with(vec![Entry::File("production/secret.yaml", b"again")]),
            "appears twice",
        ),
        case(
            "not gzip",
            b"PK\x03\x04 this is a zip".to_vec(),
            "not a readable .tar.gz",
        ),
        case(
            "remote base",
            overlay(vec![(
                "production/kustomization.yaml",
                b"resources:\n  - https://github.com/example/secrets//base?ref=main\n",
            )]),
            "is remote",
        ),
        case(
            "base outside the package",
            overlay(vec![(
                "production/kustomization.yaml",
                b"resources:\n  - ../../financial-mlops-pytorch/production\n",
            )]),
            "points outside the package",
        ),
        case(
            "missing overlay",
            tar_gz(&[Entry::File("staging/kustomization.yaml", KUSTOMIZATION)]),
            "overlay `production` is not in the package (overlays: staging)",
        ),
        Case {
            file_name: "secrets.tar.gz",
            ..case(
                "badly named package",
                package_with(vec![]),
                "is not a secret package name",
            )
        },
        Case {
            file_name: "financial-mlops-pytorch-models-secrets-20250704.tar.gz",
            ..case(
                "package for another namespace",
                package_with(vec![]),
                "is not a secret package name for namespace `financial-ml`",
            )
        },
        Case {
            needs_kubectl: true,
            ..case(
                "overlay targeting another namespace",
                overlay(vec![
                    ("production/kustomization.yaml", KUSTOMIZATION),
                    ("production/secret.yaml", foreign),
                ]),
                "targets namespace `financial-mlops-pytorch`, but this package is for `financial-ml`",
            )
        },
        Case {
            needs_kubectl: true,
            ..case(
                "kustomize namespace field for another namespace",
                overlay(vec![
                    (
                        "production/kustomization.yaml",
                        b"namespace: kube-system\nresources:\n  - secret.yaml\n",
                    ),
                    ("production/secret.yaml", SECRET),
                ]),
                "targets namespace `kube-system`",
            )
        },
        Case {
            needs_kubectl: true,
            ..case(
                "unknown kind",
                overlay(vec![
                    (
                        "production/kustomization.yaml",
                        b"resources:\n  - role.yaml\n",
                    ),
                    ("production/role.yaml", role),
                ]),
                "rbac.authorization.k8s.io/v1 Role financial-ml/sneaky is not allowed in a secret package",
            )
        },
        Case {
            needs_kubectl: true,
            ..case(
                "kustomize failure",
                overlay(vec![
                    (
                        "production/kustomization.yaml",
                        b"resources:\n  - secret.yaml\n",
                    ),
                    (
                        "production/secret.yaml",
                        b"stringData: [planted-TEST-value-91\n",
                    ),
                ]),
                "`kubectl kustomize production` failed",
            )
        },
    ];
    cases.extend(sealed_cases());
    let kubectl = kubectl_available();
    if !kubectl {
        eprintln!("kubectl not found: skipping the cases that need `kubectl kustomize`");
        cases.retain(|c| !c.needs_kubectl);
    }
    for c in cases {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        let target = work.join("k8s/manifests").join(NS);
        let root = work.join("k8s/manifests");
        std::fs::create_dir_all(target.join("production")).unwrap();
        std::fs::write(
            target.join("production/kustomization.yaml"),
            b"# from an earlier package\n",
        )
        .unwrap();
        std::fs::write(target.join("notes.txt"), b"keep me").unwrap();
        let before = snapshot(&work);
        let pkg = tmp.path().join(c.file_name);
        std::fs::write(&pkg, &c.bytes).unwrap();
        let started = std::time::Instant::now();
        let err = secrets::unpack(&pkg, &root, NS, "production", Limits::default())
            .expect_err(&format!("case `{}` must be rejected", c.name));
        let msg = err.to_string();
        assert!(
            msg.contains(c.expect),
            "case `{}`: error `{msg}` lacks `{}`",
            c.name,
            c.expect
        );
        assert!(
            !msg.contains("planted-TEST-value-91"),
            "case `{}` leaked a value: {msg}",
            c.name
        );
        assert_eq!(
            snapshot(&work),
            before,
            "case `{}` changed the work folder",
            c.name
        );
        assert!(
            started.elapsed().as_secs() < 20,
            "case `{}` took {:?}",
            c.name,
            started.elapsed()
        );
    }
}

#[test]
fn nothing_is_created_when_the_manifests_folder_did_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join(PKG);
    std::fs::write(
        &pkg,
        package_with(vec![Entry::Symlink("production/l", "/etc")]),
    )
    .unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let err = secrets::unpack(
        &pkg,
        &work.join("packages"),
        NS,
        "production",
        Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SecretsError::UnsafeEntry { .. }), "{err}");
    assert!(snapshot(&work).is_empty(), "{:?}", snapshot(&work));
}

#[test]
fn packing_is_deterministic_and_extracts_back() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/secrets/financial-ml-models");
    let out1 = tempfile::tempdir().unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let a = harness::package::pack(&src, NS, "models", Some("20250704"), out1.path()).unwrap();
    let b = harness::package::pack(&src, NS, "models", Some("20250704"), out2.path()).unwrap();
    assert_eq!(a.file_name().unwrap(), PKG);
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb, "same folder and date must give the same bytes");
    // Entries are sorted, owned by 0:0, dated at the package date.
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&ba[..]));
    let names: Vec<(String, u64, u64)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("production/".to_string(), 0, 1751587200),
            ("production/kustomization.yaml".to_string(), 0, 1751587200),
            ("production/secret.yaml".to_string(), 0, 1751587200),
        ]
    );
    let err =
        harness::package::pack(&src, NS, "Models", Some("20250704"), out1.path()).unwrap_err();
    assert!(err.to_string().contains("purpose `Models`"), "{err}");
    let err =
        harness::package::pack(&src, NS, "models", Some("2025-07-04"), out1.path()).unwrap_err();
    assert!(err.to_string().contains("YYYYMMDD"), "{err}");

    if !kubectl_available() {
        eprintln!("kubectl not found: skipping extraction of the packed sample");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let r = secrets::unpack(&a, work.path(), NS, "production", Limits::default()).unwrap();
    let dir = work.path().join("financial-ml");
    assert_eq!(r.dir.as_deref(), Some(dir.as_path()));
    assert_eq!(
        std::fs::read(dir.join("production/secret.yaml")).unwrap(),
        std::fs::read(src.join("production/secret.yaml")).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "extracted package folder");
        assert_eq!(mode(&dir.join("production")), 0o700, "overlay folder");
        assert_eq!(
            mode(&dir.join("production/secret.yaml")),
            0o600,
            "secret file"
        );
    }
    assert_eq!(r.secret_names(), vec!["harness-models-s3"]);
    let s = r.secret("harness-models-s3").unwrap();
    assert_eq!(
        s["metadata"]["namespace"], NS,
        "namespace is set when the overlay leaves it out"
    );
    assert_eq!(s["metadata"]["labels"][secrets::PACKAGE_LABEL], PKG);
    harness::package::check_rclone_secret(s, "s3").unwrap();
    secrets::check_provides(&r, &["harness-models-s3".into()]).unwrap();
    let missing = secrets::check_provides(&r, &["other".into()]).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("does not contain Secret `other`"),
        "{missing}"
    );
    // A second extraction replaces the folder (no leftovers, no temporary folders).
    std::fs::write(dir.join("stale.yaml"), b"old").unwrap();
    secrets::unpack(&a, work.path(), NS, "production", Limits::default()).unwrap();
    assert!(!dir.join("stale.yaml").exists());
    let manifests: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(manifests, vec![std::ffi::OsString::from(NS)]);
}

#[test]
fn symlinks_in_the_source_folder_are_refused_when_packing() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("production")).unwrap();
    std::fs::File::create(src.path().join("production/kustomization.yaml"))
        .unwrap()
        .write_all(KUSTOMIZATION)
        .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", src.path().join("production/secret.yaml")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err =
        harness::package::pack(src.path(), NS, "models", Some("20250704"), out.path()).unwrap_err();
    assert!(err.to_string().contains("is a symlink"), "{err}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no package or temp file left"
    );
}
