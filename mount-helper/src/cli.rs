//! The command line mount(8) gives a helper:
//! `mount.mxfs SPEC DIR [-sfnv] [-N NS] [-o OPTIONS] [-t TYPE]`.
//!
//! Parsed by hand rather than with clap because the shape is fixed by mount(8): flags may be
//! clustered (`-fv`), values may be attached (`-oro`), and options may come before or after
//! the two operands.

use mxfs_uapi::genl::FS_NAME;

use crate::failure::Failure;

/// One-line usage, printed for `-h`.
pub const USAGE: &str = "usage: mount.mxfs SPEC DIR [-sfnv] [-N NAMESPACE] [-o OPTIONS]";

/// A parsed invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// Device path, `UUID=...` or `LABEL=...`.
    pub spec: String,
    /// Mount point as given.
    pub dir: String,
    /// `-o` values, joined with commas when given more than once.
    pub options: String,
    /// `-f`: check everything, do not call mount(2).
    pub fake: bool,
    /// `-v`: say what is done.
    pub verbose: bool,
    /// `-s`: ignore options this helper does not know.
    pub sloppy: bool,
    /// `-n`: do not write /etc/mtab. mxfs never does; accepted for mount(8).
    pub no_mtab: bool,
    /// `-N`: mount namespace (pid or path) to mount in.
    pub namespace: Option<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Mount(Invocation),
    Help,
}

/// Parses arguments after `argv[0]`.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, Failure> {
    let mut inv = Invocation::default();
    let mut operands = Vec::new();
    let mut options = Vec::new();
    let mut args = args.into_iter();
    let mut only_operands = false;

    while let Some(arg) = args.next() {
        if only_operands || arg == "-" || !arg.starts_with('-') {
            operands.push(arg);
            continue;
        }
        if arg == "--" {
            only_operands = true;
            continue;
        }
        match arg.as_str() {
            "--help" => return Ok(Parsed::Help),
            "--verbose" => {
                inv.verbose = true;
                continue;
            }
            "--fake" => {
                inv.fake = true;
                continue;
            }
            _ if arg.starts_with("--") => {
                return Err(Failure::usage(format!("unknown argument '{arg}'; {USAGE}")))
            }
            _ => {}
        }
        // A cluster of single-letter flags; o, N and t take a value (attached or next).
        let letters: Vec<char> = arg[1..].chars().collect();
        let mut i = 0;
        while i < letters.len() {
            let c = letters[i];
            i += 1;
            match c {
                's' => inv.sloppy = true,
                'f' => inv.fake = true,
                'n' => inv.no_mtab = true,
                'v' => inv.verbose = true,
                'h' => return Ok(Parsed::Help),
                'o' | 'N' | 't' => {
                    let attached: String = letters[i..].iter().collect();
                    i = letters.len();
                    let value = if attached.is_empty() {
                        args.next()
                            .ok_or_else(|| Failure::usage(format!("-{c} needs a value; {USAGE}")))?
                    } else {
                        attached
                    };
                    match c {
                        'o' => options.push(value),
                        'N' => inv.namespace = Some(value),
                        _ => check_type(&value)?,
                    }
                }
                _ => return Err(Failure::usage(format!("unknown flag '-{c}'; {USAGE}"))),
            }
        }
    }

    match <[String; 2]>::try_from(operands) {
        Ok([spec, dir]) => {
            if spec.is_empty() || dir.is_empty() {
                return Err(Failure::usage(format!(
                    "SPEC and DIR must not be empty; {USAGE}"
                )));
            }
            inv.spec = spec;
            inv.dir = dir;
        }
        Err(operands) => {
            return Err(Failure::usage(format!(
                "expected SPEC and DIR, got {} operand(s); {USAGE}",
                operands.len()
            )))
        }
    }
    inv.options = options.join(",");
    Ok(Parsed::Mount(inv))
}

/// mount(8) passes `-t` only for subtypes; anything but mxfs is a misrouted call.
fn check_type(t: &str) -> Result<(), Failure> {
    if t == FS_NAME {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "this helper mounts type '{FS_NAME}', not '{t}'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, Failure> {
        parse(args.iter().map(|s| s.to_string()))
    }

    fn inv(args: &[&str]) -> Invocation {
        match p(args) {
            Ok(Parsed::Mount(i)) => i,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn mount8_style_invocation() {
        let i = inv(&["/dev/sdb", "/mnt/shared", "-o", "rw,noatime"]);
        assert_eq!(i.spec, "/dev/sdb");
        assert_eq!(i.dir, "/mnt/shared");
        assert_eq!(i.options, "rw,noatime");
        assert!(!i.fake && !i.verbose && !i.sloppy && !i.no_mtab);
        assert_eq!(i.namespace, None);
    }

    #[test]
    fn clustered_flags_and_attached_values() {
        let i = inv(&["-sfnv", "UUID=abc", "/mnt", "-oro", "-N", "1234"]);
        assert!(i.sloppy && i.fake && i.no_mtab && i.verbose);
        assert_eq!(i.options, "ro");
        assert_eq!(i.namespace.as_deref(), Some("1234"));
        assert_eq!(i.spec, "UUID=abc");

        let i = inv(&["/dev/sdb", "/mnt", "-vo", "ro,nodev"]);
        assert!(i.verbose);
        assert_eq!(i.options, "ro,nodev");
    }

    #[test]
    fn repeated_o_is_joined() {
        assert_eq!(
            inv(&["a", "b", "-o", "ro", "-o", "noexec"]).options,
            "ro,noexec"
        );
    }

    #[test]
    fn type_mxfs_is_accepted_others_refused() {
        assert_eq!(inv(&["a", "b", "-t", "mxfs"]).spec, "a");
        let err = p(&["a", "b", "-t", "xfs"]).unwrap_err();
        assert_eq!(err.code, 1);
    }

    #[test]
    fn double_dash_ends_flags() {
        let i = inv(&["-v", "--", "-weird-dev", "/mnt"]);
        assert_eq!(i.spec, "-weird-dev");
    }

    #[test]
    fn wrong_operand_counts_are_usage_errors() {
        for args in [&[][..], &["/dev/sdb"][..], &["a", "b", "c"][..]] {
            let err = p(args).unwrap_err();
            assert_eq!(err.code, 1, "{args:?}");
            assert!(err.msg.contains("usage: mount.mxfs"), "{}", err.msg);
        }
    }

    #[test]
    fn unknown_flags_and_missing_values_are_usage_errors() {
        assert_eq!(p(&["a", "b", "-x"]).unwrap_err().code, 1);
        assert_eq!(p(&["a", "b", "-o"]).unwrap_err().code, 1);
        assert_eq!(p(&["a", "b", "--bogus"]).unwrap_err().code, 1);
        assert!(p(&["a", "b", "-N"])
            .unwrap_err()
            .msg
            .contains("-N needs a value"));
    }

    #[test]
    fn help_is_recognized() {
        assert_eq!(p(&["-h"]).unwrap(), Parsed::Help);
        assert_eq!(p(&["--help"]).unwrap(), Parsed::Help);
    }
}
