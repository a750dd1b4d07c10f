// SPDX-License-Identifier: GPL-2.0

//! mxfs.ko: the MXFS kernel module.
//!
//! Owner mode: an `mxfs` mount stacks on an XFS that the module mounts internally (never
//! visible as a second user mount), and every VFS operation is passed to the lower XFS.
//! The module spawns one `mxfsd` per mount and completes the mount only once the daemon
//! reports ready over the `mxfs` generic netlink family.

mod bindings;
mod cache;
mod daemon;
mod dentry;
mod dir;
mod export;
mod fence;
mod file;
mod inode;
mod lower;
mod mapping;
mod netlink;
mod options;
mod registry;
mod rpc;
mod member;
mod super_ops;
mod xattr;
#[path = "../uapi/src/genl.rs"]
#[allow(dead_code, missing_docs, unreachable_pub)]
mod uapi_genl;
#[path = "../uapi/src/remote.rs"]
#[allow(dead_code, missing_docs, unreachable_pub)]
mod uapi_remote;

use kernel::prelude::*;

module! {
    type: MxfsModule,
    name: "mxfs",
    author: "MXFS developers",
    description: "MXFS shared-disk cluster filesystem stacked on XFS",
    license: "GPL",
}

// Fields drop in declaration order: the filesystem type goes first, the registry last.
struct MxfsModule {
    _fs: super_ops::Registration,
    _genl: netlink::Registration,
    _registry: registry::Registry,
}

impl kernel::Module for MxfsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let registry = registry::Registry::new()?;
        // Netlink before the filesystem: a mount only completes once its daemon can reach us.
        let genl = netlink::Registration::new(module)?;
        let fs = super_ops::Registration::new(module)?;
        pr_info!("loaded (netlink family {} v{})\n", uapi_genl::FAMILY_NAME, uapi_genl::FAMILY_VERSION);
        Ok(MxfsModule { _fs: fs, _genl: genl, _registry: registry })
    }
}
