/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers mxfs.ko generates its own Rust bindings from. The kernel crate's bindings
 * lack genetlink, namei, fs_stack, statfs and umh; generating everything we call from
 * one header keeps the types in one place.
 */
#include <linux/blkdev.h>
#include <linux/buffer_head.h>
#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/delayed_call.h>
#include <linux/exportfs.h>
#include <linux/fiemap.h>
#include <linux/fileattr.h>
#include <linux/filelock.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/xattr.h>
#include <linux/fs.h>
#include <linux/fs_stack.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/backing-dev.h>
#include <linux/highmem.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include <linux/umh.h>
#include <linux/netlink.h>
#include <linux/splice.h>
#include <net/genetlink.h>

/* Constants built from casts or macros, which bindgen cannot evaluate on its own. */
const gfp_t MXFS_GFP_KERNEL = GFP_KERNEL;
const fmode_t MXFS_FMODE_CAN_ODIRECT = FMODE_CAN_ODIRECT;
const int MXFS_IOCB_RW_FLAGS = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;
const unsigned int MXFS_UMH_WAIT_EXEC = UMH_WAIT_EXEC;
const unsigned int MXFS_GENL_HDRLEN = GENL_HDRLEN;
const loff_t MXFS_MAX_LFS_FILESIZE = MAX_LFS_FILESIZE;
const unsigned long MXFS_SB_POSIXACL = SB_POSIXACL;
const int MXFS_SB_RDONLY = SB_RDONLY;
const int MXFS_SB_KERNMOUNT = SB_KERNMOUNT;
const blk_mode_t MXFS_BLK_OPEN_READ = BLK_OPEN_READ;
const unsigned long MXFS_HZ = HZ;
const int MXFS_IOCB_APPEND = IOCB_APPEND;
const int MXFS_IOCB_DSYNC = IOCB_DSYNC;
const int MXFS_IOCB_DIRECT = IOCB_DIRECT;
const unsigned long MXFS_VM_SHARED = VM_SHARED;
const unsigned long MXFS_VM_WRITE = VM_WRITE;
const unsigned long MXFS_VM_MAYWRITE = VM_MAYWRITE;
const vm_fault_t MXFS_VM_FAULT_SIGBUS = VM_FAULT_SIGBUS;
const vm_fault_t MXFS_VM_FAULT_LOCKED = VM_FAULT_LOCKED;
const vm_fault_t MXFS_VM_FAULT_NOPAGE = VM_FAULT_NOPAGE;
const vm_fault_t MXFS_VM_FAULT_FALLBACK = VM_FAULT_FALLBACK;

/* C shim: static inline helpers and macros, wrapped (shim.c). */
struct dentry *mxfs_dget(struct dentry *dentry);
void mxfs_inode_lock(struct inode *inode);
void mxfs_inode_lock_parent(struct inode *inode);
void mxfs_inode_unlock(struct inode *inode);
void mxfs_spin_lock(spinlock_t *lock);
void mxfs_file_start_write(struct file *file);
void mxfs_file_end_write(struct file *file);
void mxfs_spin_unlock(spinlock_t *lock);
struct pid *mxfs_get_current_pid(void);
pid_t mxfs_current_tgid(void);
pid_t mxfs_pid_nr(struct pid *pid);
bool mxfs_pid_alive(struct pid *pid);
bool mxfs_fatal_signal_pending(void);
struct sk_buff *mxfs_genlmsg_new(size_t payload);
void *mxfs_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info,
			     const struct genl_family *family, u8 cmd);
void mxfs_genlmsg_end(struct sk_buff *skb, void *hdr);
int mxfs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info);
void mxfs_nlmsg_free(struct sk_buff *skb);
int mxfs_nla_put_u32(struct sk_buff *skb, int type, u32 value);
int mxfs_nla_put_u64(struct sk_buff *skb, int type, u64 value, int pad);
int mxfs_nla_put_string(struct sk_buff *skb, int type, const char *str);
struct nlattr *mxfs_nla_nest_start(struct sk_buff *skb, int type);
void mxfs_nla_nest_end(struct sk_buff *skb, struct nlattr *nest);
const char *mxfs_nla_data(const struct nlattr *nla);
int mxfs_nla_len(const struct nlattr *nla);
int mxfs_genlmsg_unicast(struct sk_buff *skb, u32 portid);
const struct cred *mxfs_current_cred(void);
void mxfs_init_completion(struct completion *c);
bool mxfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino, unsigned int type);
size_t mxfs_copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i);
size_t mxfs_copy_from_iter(void *addr, size_t bytes, struct iov_iter *i);
size_t mxfs_iov_iter_count(const struct iov_iter *i);
struct folio *mxfs_readahead_folio(struct readahead_control *rac);
void mxfs_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags);
bool mxfs_mapping_mapped(struct address_space *mapping);
struct folio *mxfs_page_folio(struct page *page);
void mxfs_folio_put(struct folio *folio);
loff_t mxfs_folio_pos(struct folio *folio);
size_t mxfs_folio_size(struct folio *folio);
void mxfs_memcpy_to_folio(struct folio *folio, size_t offset, const char *from, size_t len);
void mxfs_folio_zero_range(struct folio *folio, size_t start, size_t length);
void mxfs_folio_mark_uptodate(struct folio *folio);
void mxfs_brelse(struct buffer_head *bh);
struct buffer_head *mxfs_bread(struct block_device *bdev, sector_t block, unsigned int size);
void mxfs_set_delayed_call(struct delayed_call *call, void (*fn)(void *), void *arg);
uid_t mxfs_from_kuid(kuid_t uid);
gid_t mxfs_from_kgid(kgid_t gid);
kuid_t mxfs_make_kuid(uid_t uid);
kgid_t mxfs_make_kgid(gid_t gid);
void mxfs_i_size_write(struct inode *inode, loff_t size);
dev_t mxfs_mkdev(unsigned int major, unsigned int minor);
unsigned int mxfs_major(dev_t dev);
unsigned int mxfs_minor(dev_t dev);
bool mxfs_signal_pending(void);
