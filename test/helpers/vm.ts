// The guest kernel + initramfs cache the VM tests use: $SMR_VM_CACHE, as CI
// sets it, else the CI location (prepared by scripts/setup).
export const VM_CACHE = process.env.SMR_VM_CACHE ?? '/var/cache/smr-ci/vm';
