// SPDX-License-Identifier: GPL-2.0
/*
 * Wrappers for kernel static inline functions and macros that bindgen cannot emit.
 * Nothing here decides anything: every function is a one-line forward.
 */
#include "bindings_helper.h"

struct dentry *mxfs_dget(struct dentry *dentry) { return dget(dentry); }
void mxfs_inode_lock(struct inode *inode) { inode_lock(inode); }
void mxfs_inode_lock_parent(struct inode *inode) { inode_lock_nested(inode, I_MUTEX_PARENT); }
void mxfs_inode_unlock(struct inode *inode) { inode_unlock(inode); }
void mxfs_spin_lock(spinlock_t *lock) { spin_lock(lock); }
void mxfs_file_start_write(struct file *file) { file_start_write(file); }
void mxfs_file_end_write(struct file *file) { file_end_write(file); }
void mxfs_spin_unlock(spinlock_t *lock) { spin_unlock(lock); }
struct pid *mxfs_get_current_pid(void) { return get_task_pid(current, PIDTYPE_PID); }
pid_t mxfs_current_tgid(void) { return task_tgid_nr(current); }
pid_t mxfs_pid_nr(struct pid *pid) { return pid_nr(pid); }
bool mxfs_fatal_signal_pending(void) { return fatal_signal_pending(current); }
bool mxfs_signal_pending(void) { return signal_pending(current); }
int mxfs_genlmsg_unicast(struct sk_buff *skb, u32 portid) { return genlmsg_unicast(&init_net, skb, portid); }
const struct cred *mxfs_current_cred(void) { return current_cred(); }
void mxfs_init_completion(struct completion *c) { init_completion(c); }
bool mxfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino, unsigned int type) { return dir_emit(ctx, name, len, ino, type); }
size_t mxfs_copy_to_iter(const void *addr, size_t bytes, struct iov_iter *i) { return copy_to_iter(addr, bytes, i); }
size_t mxfs_copy_from_iter(void *addr, size_t bytes, struct iov_iter *i) { return copy_from_iter(addr, bytes, i); }
size_t mxfs_iov_iter_count(const struct iov_iter *i) { return iov_iter_count(i); }
struct folio *mxfs_readahead_folio(struct readahead_control *rac) { return readahead_folio(rac); }
void mxfs_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags) { vm_flags_clear(vma, flags); }
bool mxfs_mapping_mapped(struct address_space *mapping) { return mapping_mapped(mapping); }
struct folio *mxfs_page_folio(struct page *page) { return page_folio(page); }
void mxfs_folio_put(struct folio *folio) { folio_put(folio); }
loff_t mxfs_folio_pos(struct folio *folio) { return folio_pos(folio); }
size_t mxfs_folio_size(struct folio *folio) { return folio_size(folio); }
void mxfs_memcpy_to_folio(struct folio *folio, size_t offset, const char *from, size_t len) { memcpy_to_folio(folio, offset, from, len); }
void mxfs_folio_zero_range(struct folio *folio, size_t start, size_t length) { folio_zero_range(folio, start, length); }
void mxfs_folio_mark_uptodate(struct folio *folio) { folio_mark_uptodate(folio); }
void mxfs_brelse(struct buffer_head *bh) { brelse(bh); }
struct buffer_head *mxfs_bread(struct block_device *bdev, sector_t block, unsigned int size) { return __bread(bdev, block, size); }
void mxfs_set_delayed_call(struct delayed_call *call, void (*fn)(void *), void *arg) { set_delayed_call(call, fn, arg); }
uid_t mxfs_from_kuid(kuid_t uid) { return from_kuid_munged(&init_user_ns, uid); }
gid_t mxfs_from_kgid(kgid_t gid) { return from_kgid_munged(&init_user_ns, gid); }
kuid_t mxfs_make_kuid(uid_t uid) { return make_kuid(&init_user_ns, uid); }
kgid_t mxfs_make_kgid(gid_t gid) { return make_kgid(&init_user_ns, gid); }
void mxfs_i_size_write(struct inode *inode, loff_t size) { i_size_write(inode, size); }
dev_t mxfs_mkdev(unsigned int major, unsigned int minor) { return MKDEV(major, minor); }
unsigned int mxfs_major(dev_t dev) { return MAJOR(dev); }
unsigned int mxfs_minor(dev_t dev) { return MINOR(dev); }

bool mxfs_pid_alive(struct pid *pid)
{
	bool alive;

	rcu_read_lock();
	alive = pid_task(pid, PIDTYPE_PID) != NULL;
	rcu_read_unlock();
	return alive;
}

struct sk_buff *mxfs_genlmsg_new(size_t payload) { return genlmsg_new(payload, GFP_KERNEL); }
void *mxfs_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info,
			     const struct genl_family *family, u8 cmd)
{
	return genlmsg_put_reply(skb, info, family, 0, cmd);
}
void mxfs_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }
int mxfs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info) { return genlmsg_reply(skb, info); }
void mxfs_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }
int mxfs_nla_put_u32(struct sk_buff *skb, int type, u32 value) { return nla_put_u32(skb, type, value); }
int mxfs_nla_put_u64(struct sk_buff *skb, int type, u64 value, int pad) { return nla_put_u64_64bit(skb, type, value, pad); }
int mxfs_nla_put_string(struct sk_buff *skb, int type, const char *str) { return nla_put_string(skb, type, str); }
struct nlattr *mxfs_nla_nest_start(struct sk_buff *skb, int type) { return nla_nest_start(skb, type); }
void mxfs_nla_nest_end(struct sk_buff *skb, struct nlattr *nest) { nla_nest_end(skb, nest); }
const char *mxfs_nla_data(const struct nlattr *nla) { return nla_data(nla); }
int mxfs_nla_len(const struct nlattr *nla) { return nla_len(nla); }
