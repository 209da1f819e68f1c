"""Reference timings for `usher bench hash`, from C implementations (or pyca's bcrypt).

Usage: python3 - CASE RUNS < hash_reference.py
Prints one JSON object: {"hash": <stored string>, "password": <str>, "ms": [<per-verify ms>...],
"impl": <what was timed>}. The stored string is what usher then verifies, so both sides run
exactly the same parameters. Needs: pip install bcrypt argon2-cffi (hashlib uses OpenSSL).
"""
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import sys
import time

PASSWORD = "correct horse battery staple"


def b64np(b: bytes) -> str:
    return base64.b64encode(b).decode().rstrip("=")


def timed(fn, runs):
    fn()  # warm up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        ok = fn()
        out.append((time.perf_counter() - t) * 1000.0)
        if not ok:
            raise SystemExit("reference verify failed")
    return out


def libxcrypt():
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    return lib


def crypt_case(prefix: bytes, count: int, label: str, runs: int):
    lib = libxcrypt()
    setting = lib.crypt_gensalt(prefix, count, None, 0)
    stored = lib.crypt(PASSWORD.encode(), setting)
    ms = timed(lambda: hmac.compare_digest(lib.crypt(PASSWORD.encode(), stored), stored), runs)
    return stored.decode(), ms, label


def main():
    case, runs = sys.argv[1], int(sys.argv[2])
    pw = PASSWORD.encode()
    if case == "bcrypt-10-libxcrypt":
        stored, ms, impl = crypt_case(b"$2b$", 10, "libxcrypt crypt() (crypt_blowfish, C)", runs)
    elif case == "bcrypt-10-pyca":
        import bcrypt

        h = bcrypt.hashpw(pw, bcrypt.gensalt(10))
        stored, ms, impl = h.decode(), timed(lambda: bcrypt.checkpw(pw, h), runs), f"pyca bcrypt {bcrypt.__version__}"
    elif case == "argon2id-owasp":
        import argon2

        ph = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)
        h = ph.hash(PASSWORD)
        stored, ms = h, timed(lambda: ph.verify(h, PASSWORD), runs)
        impl = f"argon2-cffi {argon2.__version__} (libargon2, C)"
    elif case == "scrypt-15":
        salt = os.urandom(16)
        kw = dict(n=1 << 15, r=8, p=1, maxmem=64 << 20, dklen=32)
        dk = hashlib.scrypt(pw, salt=salt, **kw)
        stored = f"$scrypt$ln=15,r=8,p=1${b64np(salt)}${b64np(dk)}"
        ms = timed(lambda: hmac.compare_digest(hashlib.scrypt(pw, salt=salt, **kw), dk), runs)
        impl = "hashlib.scrypt (OpenSSL)"
    elif case in ("pbkdf2-sha256-600k", "pbkdf2-sha512-210k", "pbkdf2-sha1-1.3m"):
        digest, it = {"pbkdf2-sha256-600k": ("sha256", 600_000), "pbkdf2-sha512-210k": ("sha512", 210_000),
                      "pbkdf2-sha1-1.3m": ("sha1", 1_300_000)}[case]
        salt = os.urandom(16)
        dklen = hashlib.new(digest).digest_size
        dk = hashlib.pbkdf2_hmac(digest, pw, salt, it, dklen)
        stored = f"$pbkdf2-{digest}$i={it},l={dklen}${b64np(salt)}${b64np(dk)}"
        ms = timed(lambda: hmac.compare_digest(hashlib.pbkdf2_hmac(digest, pw, salt, it, dklen), dk), runs)
        impl = "hashlib.pbkdf2_hmac (OpenSSL)"
    elif case == "sha512-crypt":
        stored, ms, impl = crypt_case(b"$6$", 0, "libxcrypt crypt() (C)", runs)
    elif case == "md5-crypt":
        stored, ms, impl = crypt_case(b"$1$", 0, "libxcrypt crypt() (C)", runs)
    elif case == "yescrypt":
        stored, ms, impl = crypt_case(b"$y$", 0, "libxcrypt crypt() (C)", runs)
    else:
        raise SystemExit(f"unknown case {case}")
    print(json.dumps({"hash": stored, "password": PASSWORD, "ms": ms, "impl": impl}))


main()
