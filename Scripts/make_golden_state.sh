#!/usr/bin/env bash
# Makes the golden state file Tests/HWKeysCommandsTests/Fixtures/golden-2026-12-02.sqlite and records the
# outputs the CLI gave for it in golden-2026-12-02.expected.txt next to it.
#
# The file is a compatibility fixture: GoldenStateFileTests opens a copy with the current CLI and checks
# those outputs, so every later hwkeys must keep reading state files written by this one (the CLI as of
# commit 9922e38, phase 1). Never regenerate it with a newer hwkeys; add a new golden file instead.
#
# Usage: Scripts/make_golden_state.sh [path/to/hwkeys]
# Without an argument the script builds the release CLI (`swift build -c release --product hwkeys`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fixtures="$root/Tests/HWKeysCommandsTests/Fixtures"
name=golden-2026-12-02
if [[ $# -ge 1 ]]; then
    hwkeys=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
    (cd "$root" && swift build -c release --product hwkeys)
    hwkeys="$root/.build/release/hwkeys"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
state="$work/$name.sqlite"
hw() { "$hwkeys" --state "$state" "$@" >/dev/null; }

# The 64-byte volume key 00 01 … 3f (K1 ‖ K2 of AES-256-XTS).
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f

# 1. "default": a running kernel with keys, a keyring, process memory under an MKTME KeyID, Key Locker in
#    mode native_kernel_key_backup and one crypt volume of each cipher.
hw machine create --seed 1 --memory 16M --swap 16M
hw keyctl add user golden-token "correct horse battery staple" @u
hw keyctl newring vault @s
hw keyctl add user inner "kept in a keyring" %:vault
hw keyctl add logon svc:golden hunter2 @s
hw proc spawn --uid 1000
hw keyctl add mktme tenant type=cpu @u --pid 101
hw proc mmap 101 8K --prot rw
hw proc write 101 0x7effffffe000 --text "plain page of pid 101"
hw proc encrypt-mprotect 101 0x7efffffff000 4096 rw %mktme:tenant
hw proc write 101 0x7efffffff000 --text "tenant secret under its KeyID"
hw sysfs write /sys/kernel/keylocker/mode native_kernel_key_backup
hw crypt create plain --size 64K --cipher aes-xts-plain64 --key $key
hw crypt write plain 0 "73 65 63 72 65 74 20 6e 6f 74 65 73"
hw crypt create locked --size 64K --cipher aes-xts-kl-plain64 --key $key
hw crypt write locked 512 "6b 6c 20 64 61 74 61"

# 2. "rfc": the rfc-v2 mktme API with a user key (raw key and tweak) backing process memory, both crypt
#    ciphers, then hibernated (S4): its kernel lives only in the image on its swap disk.
hw machine create --machine rfc --seed 2 --memory 16M --swap 16M --cmdline "mktme.api=rfc-v2 mktme_savekeys"
hw keyctl add user rfc-token "sleeping beauty" @u --machine rfc
hw keyctl add mktme pepsi "type=user algorithm=aes-xts-128 key=000102030405060708090a0b0c0d0e0f tweak=f0e0d0c0b0a090807060504030201000" @s --machine rfc
hw proc mmap 100 8K --prot none --machine rfc
hw proc encrypt-mprotect 100 0x7effffffe000 8K rw %mktme:pepsi --machine rfc
hw proc write 100 0x7effffffe000 --text "tenant pepsi before S4" --machine rfc
hw proc write 100 0x7efffffff000 --text "second page" --machine rfc
hw sysfs write /sys/kernel/keylocker/mode native_kernel_key_backup --machine rfc
hw crypt create vault --size 64K --cipher aes-xts-kl-plain64 --key $key --machine rfc
hw crypt write vault 1024 "68 69 62 65 72 6e 61 74 65 64" --machine rfc
hw crypt create notes --size 64K --cipher aes-xts-plain64 --key $key --machine rfc
hw crypt write notes 0 "6e 6f 74 65 73" --machine rfc
hw power hibernate --machine rfc

# 3. "bare": no kernel; Key Locker enabled with a software IWKey (the keylocker-basics fixture) backed up
#    to the platform, and KeyID 1 programmed directly with a line written back to DRAM through it.
hw machine create --machine bare --seed 3 --memory 16M --swap 0 --no-kernel
hw hw wrcr4 0x80000 --machine bare
hw hw loadiwkey --enc 31bd6774440d061e33ee6be4ba4219f2c5f54d75590a50751dae85d31dd2be4e --int 85950c8ee369a073ca5da94783f966a3 --machine bare
hw hw wrmsr 0xd91 1 --machine bare
hw hw pconfig --keyid 1 --command set-key-direct --key 000102030405060708090a0b0c0d0e0f --tweak 101112131415161718191a1b1c1d1e1f --machine bare
hw hw store 0x10000005000 "48 65 6c 6c 6f 2c 20 4d 4b 54 4d 45 21" --machine bare
hw hw clflush 0x5000 --keyid 1 --machine bare

cp "$state" "$fixtures/$name.sqlite"
chmod 0644 "$fixtures/$name.sqlite"

# The outputs, from a scratch copy (every command of this CLI commits, reads included).
cp "$state" "$work/scratch.sqlite"
expected="$fixtures/$name.expected.txt"
{
    echo "# Outputs of the hwkeys that made $name.sqlite (Scripts/make_golden_state.sh), each command"
    echo "# run in this order on one copy of the file. GoldenStateFileTests checks the values that"
    echo "# are state (bytes, serials, power states), not incidental fields such as cycle counts."
    while IFS= read -r line; do
        [[ -z "$line" ]] && continue
        echo
        echo "\$ hwkeys $line --format json"
        eval "words=($line)"
        "$hwkeys" --state "$work/scratch.sqlite" "${words[@]}" --format json
    done <<'COMMANDS'
machine list
machine show
keyctl print %user:golden-token
keyctl print %user:inner
keyctl list %:vault
keyctl describe %logon:svc:golden
proc read 101 0x7effffffe000 21
proc read 101 0x7efffffff000 29
proc translate 101 0x7efffffff000
crypt read plain 0 12
crypt read locked 512 7
sysfs read /sys/kernel/keylocker/status
machine show --machine rfc
power resume --machine rfc
keyctl print %user:rfc-token --machine rfc
proc read 100 0x7effffffe000 22 --machine rfc
proc read 100 0x7efffffff000 11 --machine rfc
crypt read vault 1024 10 --machine rfc
crypt read notes 0 5 --machine rfc
sysfs read /sys/kernel/keylocker/status --machine rfc
hw wbinvd --machine rfc
proc translate 100 0x7effffffe000 --machine rfc
hw dram 0x107000 16 --machine rfc
hw keytable --machine bare
hw load 0x5000 13 --keyid 1 --machine bare
hw dram 0x5000 16 --machine bare
hw rdmsr 0x991 --machine bare
hw encodekey128 --key 0f0d93acbf22bc898cc93a3e9df2e9ca --machine bare
COMMANDS
} >"$expected"
echo "wrote $fixtures/$name.sqlite and $expected"
