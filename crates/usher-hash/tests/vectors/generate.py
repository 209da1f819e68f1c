#!/usr/bin/env python3.11
"""Generate the usher-hash test-vector corpus (vectors.json) from INDEPENDENT implementations.

Nothing here uses the Rust code.  Every generated vector is produced by a third-party
implementation (passlib, Django, Werkzeug, libxcrypt via ctypes, pyca/bcrypt, argon2-cffi)
or, for formats that have no library, constructed with hashlib/hmac/base64 exactly as the
format's documentation or source describes (the vector's ``source`` says which).  Every
vector is checked once more before it is written: the correct password must verify, every
``wrong`` password must be rejected and every ``also_accepts`` password must verify, using
the generating library (or, for constructed formats, an independent recomputation).
Published vectors (copied verbatim from upstream test suites / docs) are verified the same way.

Requirements (Python 3.11, Debian bookworm libxcrypt 4.4.33 = ``libcrypt.so.1``):

    pip install passlib==1.7.4 bcrypt==4.0.1 argon2-cffi==25.1.0 argon2-cffi-bindings==26.2.0 \
        Django==5.2.19 Werkzeug==3.1.9 cryptography==46.0.7

(bcrypt is pinned to 4.0.1 because passlib 1.7.4's bcrypt backend breaks with bcrypt>=4.1.)

PBKDF2-Whirlpool vectors run Python's hashlib in a subprocess whose OpenSSL 3 loads its legacy
provider (Debian's libssl3 ships it). The PostgreSQL vectors are copied from a PostgreSQL 15
server (CREATE ROLE ... PASSWORD, then SELECT rolpassword FROM pg_authid) and re-verified here
with hashlib; the MySQL 8, Cisco and hashcat vectors are published ones, re-verified likewise.

Usage:  python3.11 generate.py            # adds new vectors to vectors.json next to this file
        python3.11 generate.py --fresh    # regenerates every vector

Salts are random, so a re-run keeps the vectors already in vectors.json (matched by id) and
only adds those with new ids; ``--fresh`` regenerates all of them.  Costs are kept low (bcrypt 4-6 with one cost 10, argon2
m<=19456, scrypt N<=2^14, PBKDF2 <= 30000 iterations apart from a few realistic/published ones).
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from importlib.metadata import version as pkg_version
from pathlib import Path

import argon2
import argon2.low_level as a2
import bcrypt
import django
import werkzeug.security as wz
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from passlib import hash as ph

OUT = Path(__file__).with_name("vectors.json")

# --------------------------------------------------------------------------------------------
# Django setup: explicit, cheap hasher classes (importable as __main__.<Name>)
# --------------------------------------------------------------------------------------------
from django.conf import settings  # noqa: E402

import django.contrib.auth.hashers as dj  # noqa: E402  (module import only; classes used after setup)


class FastArgon2(dj.Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 1024
    parallelism = 1


class FastArgon2Big(dj.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 19456
    parallelism = 2


class FastScrypt(dj.ScryptPasswordHasher):
    work_factor = 2**10
    block_size = 8
    parallelism = 1


class FastScrypt2(dj.ScryptPasswordHasher):
    work_factor = 2**11
    block_size = 4
    parallelism = 2


class FastBCrypt(dj.BCryptPasswordHasher):
    rounds = 5


class FastBCryptSHA256(dj.BCryptSHA256PasswordHasher):
    rounds = 5


class FastPBKDF2(dj.PBKDF2PasswordHasher):
    iterations = 10000


class FastPBKDF2SHA1(dj.PBKDF2SHA1PasswordHasher):
    iterations = 10000


settings.configure(
    PASSWORD_HASHERS=[
        "__main__.FastPBKDF2",
        "__main__.FastPBKDF2SHA1",
        "__main__.FastArgon2",
        "__main__.FastArgon2Big",
        "__main__.FastScrypt",
        "__main__.FastScrypt2",
        "__main__.FastBCrypt",
        "__main__.FastBCryptSHA256",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ],
    USE_TZ=True,
)
django.setup()
from django.contrib.auth.hashers import check_password as dj_check  # noqa: E402
from django.contrib.auth.hashers import make_password as dj_make  # noqa: E402

# --------------------------------------------------------------------------------------------
# libxcrypt through ctypes
# --------------------------------------------------------------------------------------------
_libcrypt = ctypes.CDLL("libcrypt.so.1")
_CRYPT_OUTPUT_SIZE = 384
_CRYPT_GENSALT_OUTPUT_SIZE = 192
_libcrypt.crypt_rn.restype = ctypes.c_char_p
_libcrypt.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
_libcrypt.crypt_gensalt_rn.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt_rn.argtypes = [
    ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]


def xc_gensalt(prefix: str, count: int = 0) -> str:
    buf = ctypes.create_string_buffer(_CRYPT_GENSALT_OUTPUT_SIZE)
    rbytes = secrets.token_bytes(16)
    r = _libcrypt.crypt_gensalt_rn(prefix.encode(), count, rbytes, len(rbytes), buf, len(buf))
    if not r:
        raise RuntimeError(f"libxcrypt crypt_gensalt_rn refused prefix {prefix!r} count {count}")
    return r.decode()


# struct crypt_data is 32768 bytes in libxcrypt
_CRYPT_DATA_SIZE = 32768


def xc_crypt(password: bytes, setting: str) -> str | None:
    data = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)
    r = _libcrypt.crypt_rn(password, setting.encode(), data, _CRYPT_DATA_SIZE)
    if not r:
        return None
    out = r.decode()
    if out.startswith("*"):
        return None
    return out


def xc_verify(password: bytes, stored: str) -> bool:
    out = xc_crypt(password, stored)
    return out is not None and hmac.compare_digest(out, stored)


def libxcrypt_version() -> str:
    try:
        txt = Path("/usr/include/crypt.h").read_text()
        m = re.search(r'#define XCRYPT_VERSION_STR "([^"]+)"', txt)
        if m:
            return m.group(1)
    except OSError:
        pass
    return "unknown (libcrypt.so.1)"


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------
V = {
    "passlib": pkg_version("passlib"),
    "django": django.get_version(),
    "werkzeug": pkg_version("werkzeug"),
    "libxcrypt": libxcrypt_version(),
    "bcrypt": pkg_version("bcrypt"),
    "argon2-cffi": pkg_version("argon2-cffi"),
    "cryptography": pkg_version("cryptography"),
    "python-hashlib": "Python %d.%d.%d hashlib (OpenSSL %s)" % (
        sys.version_info[:3] + (__import__("ssl").OPENSSL_VERSION.split()[1],)),
}
S_PASSLIB = f"passlib {V['passlib']}"
S_DJANGO = f"Django {V['django']} django.contrib.auth.hashers.make_password"
S_WERKZEUG = f"Werkzeug {V['werkzeug']} werkzeug.security.generate_password_hash"
S_XCRYPT = f"libxcrypt {V['libxcrypt']} (libcrypt.so.1 crypt_gensalt_rn/crypt_rn via ctypes)"
S_BCRYPT = f"pyca bcrypt {V['bcrypt']}"
S_ARGON2 = f"argon2-cffi {V['argon2-cffi']}"
S_HASHLIB = "constructed with Python hashlib/hmac/base64"

# --------------------------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------------------------
ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # phpass / crypt


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def b64raw(b: bytes) -> str:
    return base64.b64encode(b).decode().rstrip("=")


def unb64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4))


def enc(pw) -> bytes:
    return pw if isinstance(pw, bytes) else pw.encode("utf-8")


# --------------------------------------------------------------------------------------------
# Vector registry
# --------------------------------------------------------------------------------------------
VECTORS: list[dict] = []
IDS: set[str] = set()



def near(pw) -> list[str]:
    """One or two 'slightly different' passwords (one char / case) that must be rejected."""
    s = pw.decode("utf-8", "replace") if isinstance(pw, bytes) else pw
    out: list[str] = []
    if s == "":
        return [" ", "a"]
    first = s[0].swapcase()
    if first != s[0]:
        out.append(first + s[1:])
    last = s[-1]
    bumped = chr(ord(last) + 1) if ord(last) < 0x10FFFF else chr(ord(last) - 1)
    out.append(s[:-1] + bumped)
    if len(out) < 2:
        out.append(s[:-1] if len(s) > 1 else s + s)
    return [w for w in dict.fromkeys(out) if w != s][:2]


def add(vid: str, scheme: str, hash_: str, password, *, check, source: str,
        wrong: list[str] | None = None, also_accepts: list[str] | None = None,
        force: str | None = None, options: dict | None = None) -> None:
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", vid), vid
    assert vid not in IDS, f"duplicate id {vid}"
    IDS.add(vid)
    pwb = enc(password)
    wrong = list(wrong) if wrong is not None else near(password)
    assert wrong, vid
    # --- independent re-check with the generating implementation -------------------------
    if not check(pwb):
        raise AssertionError(f"{vid}: correct password does not verify")
    for w in wrong:
        assert enc(w) != pwb, vid
        if check(enc(w)):
            raise AssertionError(f"{vid}: wrong password {w!r} verifies")
    for a in also_accepts or []:
        if not check(enc(a)):
            raise AssertionError(f"{vid}: also_accepts {a!r} does not verify")
    v: dict = {"id": vid, "scheme": scheme, "hash": hash_}
    try:
        v["password"] = pwb.decode("utf-8")
    except UnicodeDecodeError:
        v["password_hex"] = pwb.hex()
    v["wrong"] = wrong
    if also_accepts:
        v["also_accepts"] = also_accepts
    if force:
        v["force"] = force
    if options:
        v["options"] = options
    v["source"] = source
    VECTORS.append(v)


def slug(pw) -> str:
    names = {"password": "ascii", "pässwörd": "latin", "пароль": "cyrillic", "密码🔑": "cjk-emoji",
             "a": "short", "": "empty", "correct horse battery staple": "spaces",
             "Tr0ub4dor&3": "symbols", "p@ss w0rd!": "punct"}
    return names.get(pw, "pw")


# ============================================================================================
# bcrypt family
# ============================================================================================
def gen_bcrypt() -> None:
    # libxcrypt $2a$ $2b$ $2y$
    for ident, cost, pws in [("2a", 4, ["password", "pässwörd"]),
                             ("2b", 5, ["пароль", ""]),
                             ("2y", 4, ["密码🔑"])]:
        for pw in pws:
            h = xc_crypt(enc(pw), xc_gensalt(f"${ident}$", cost))
            add(f"bcrypt-{ident}-libxcrypt-{slug(pw)}", "bcrypt", h, pw,
                check=lambda p, h=h: xc_verify(p, h), source=S_XCRYPT)
    # pyca/bcrypt $2a$ / $2b$
    for prefix, pw in [(b"2b", "p@ss w0rd!"), (b"2a", "a")]:
        h = bcrypt.hashpw(enc(pw), bcrypt.gensalt(4, prefix)).decode()
        add(f"bcrypt-{prefix.decode()}-pyca-{slug(pw)}", "bcrypt", h, pw,
            check=lambda p, h=h: bcrypt.checkpw(p, h.encode()), source=S_BCRYPT)
    # cost 10 (one realistic cost)
    h = bcrypt.hashpw(b"Tr0ub4dor&3", bcrypt.gensalt(10, b"2b")).decode()
    add("bcrypt-2b-pyca-cost10", "bcrypt", h, "Tr0ub4dor&3",
        check=lambda p, h=h: bcrypt.checkpw(p, h.encode()), source=S_BCRYPT + " (cost 10)")

    # $2x$: crypt_gensalt refuses "$2x$", but crypt() accepts a $2x$ setting string.
    try:
        xc_gensalt("$2x$", 5)
        gensalt_2x = "accepted"
    except RuntimeError:
        gensalt_2x = "refused"
    for pw in ["pässwörd", "密码🔑", "password"]:
        salt = xc_gensalt("$2b$", 5)
        setting = "$2x$" + salt[4:]
        h = xc_crypt(enc(pw), setting)
        assert h and h.startswith("$2x$")
        h2b = xc_crypt(enc(pw), "$2b$" + salt[4:])
        same = h[7:] == h2b[7:]
        note = ("; for this password $2x$ and $2b$ give the SAME checksum (pure ASCII)" if same else
                "; $2x$ emulates crypt_blowfish's pre-1.1 sign-extension bug, so this checksum DIFFERS from "
                "$2a$/$2b$/$2y$ with the same salt (" + h2b[:3] + "... checksum " + h2b[29:] + ")")
        add(f"bcrypt-2x-libxcrypt-{slug(pw)}", "bcrypt", h, pw,
            check=lambda p, h=h: xc_verify(p, h),
            source=S_XCRYPT + f": crypt_rn() with a hand-made $2x$ setting (crypt_gensalt_rn {gensalt_2x} the "
            "$2x$ prefix)" + note)
    # bytes with the 8th bit set that are not UTF-8: crypt_blowfish's $2a$ 'safety' countermeasure
    salt = xc_gensalt("$2b$", 4)[7:]
    pwx = b"\xff\xff\xa3"
    for ident in ["2a", "2x", "2b"]:
        h = xc_crypt(pwx, f"${ident}$04${salt}")
        what = {"2a": "crypt_blowfish $2a$ applies its anti-collision 'safety' tweak for this \\xff-containing "
                      "input, so this $2a$ checksum differs from $2b$/$2y$ (and from OpenBSD/pyca $2a$)",
                "2x": "buggy $2x$ sign extension; for this input it happens to COLLIDE with the $2b$ checksum",
                "2b": "correct algorithm (same as $2y$)"}[ident]
        add(f"bcrypt-{ident}-libxcrypt-nonutf8-ffffa3", "bcrypt", h, pwx,
            wrong=["\u00ff\u00ff\u00a3", "\u00ff\u00ff"],
            check=lambda p, h=h: xc_verify(p, h), source=S_XCRYPT + ": " + what)
    # the pyca (OpenBSD) $2a$ for the same bytes == correct algorithm
    h = bcrypt.hashpw(pwx, f"$2a$04${salt}".encode()).decode()
    add("bcrypt-2a-pyca-nonutf8-ffffa3", "bcrypt", h, pwx, wrong=["\u00ff\u00ff\u00a3"],
        check=lambda p, h=h: bcrypt.checkpw(p, h.encode()),
        source=S_BCRYPT + ": OpenBSD-style $2a$ (no crypt_blowfish safety tweak); same salt as "
        "bcrypt-2a-libxcrypt-nonutf8-ffffa3 but a different checksum")

    # 72-byte boundary
    p72 = "Abcdefghij" * 7 + "XY"  # 72 ASCII bytes
    assert len(p72.encode()) == 72
    h = bcrypt.hashpw(p72.encode(), bcrypt.gensalt(4, b"2b")).decode()
    add("bcrypt-2b-72-byte-ascii", "bcrypt", h, p72,
        wrong=[p72[:71] + "Z", p72[:71]],
        also_accepts=[p72 + "extra", p72 + "Z"],
        check=lambda p, h=h: bcrypt.checkpw(p, h.encode()),
        source=S_BCRYPT + ": password is exactly 72 bytes; bcrypt ignores every byte after the 72nd")
    prefix = "x" * 71
    pmb = prefix + "é"  # é = C3 A9 -> bytes 71..72 (0-based 71 is 0xC3, 0xA9 is byte 73 and is dropped)
    assert len(pmb.encode()) == 73
    h = xc_crypt(pmb.encode(), xc_gensalt("$2b$", 4))
    add("bcrypt-2b-multibyte-crosses-72", "bcrypt", h, pmb,
        wrong=[prefix + "ф", prefix[:70] + "y" + "é"],
        also_accepts=[prefix + "è", prefix + "éé", prefix + "\u00c0"],
        check=lambda p, h=h: xc_verify(p, h),
        source=S_XCRYPT + ": 71 ASCII bytes + 'é' (C3 A9); only the first 72 bytes count, so any password with "
        "the same 71-byte prefix and a 72nd byte of 0xC3 (è, à, À, ...) is accepted")
    pmb2 = "密码" * 12  # 24 chars * 3 bytes = 72 bytes exactly
    assert len(pmb2.encode()) == 72
    h = bcrypt.hashpw(pmb2.encode(), bcrypt.gensalt(5, b"2a")).decode()
    add("bcrypt-2a-cjk-72-byte", "bcrypt", h, pmb2,
        wrong=["密码" * 11 + "密", "密码" * 11 + "密吗"],
        also_accepts=[pmb2 + "🔑", pmb2 + "密码"],
        check=lambda p, h=h: bcrypt.checkpw(p, h.encode()),
        source=S_BCRYPT + ": 24 three-byte CJK chars = 72 bytes; extra characters are ignored")

    # Django BCryptPasswordHasher:  bcrypt$$2b$...
    for pw in ["pässwörd"]:
        h = dj_make(pw, hasher="bcrypt")
        add(f"bcrypt-django-{slug(pw)}", "bcrypt", h, pw, check=lambda p, h=h: dj_check(p.decode(), h),
            source=S_DJANGO + " BCryptPasswordHasher (rounds=5)")
    # LDAP {CRYPT}$2b$
    for pw in ["密码🔑"]:
        h = ph.ldap_bcrypt.using(rounds=4).hash(pw)
        add(f"bcrypt-ldap-crypt-{slug(pw)}", "bcrypt", h, pw,
            check=lambda p, h=h: ph.ldap_bcrypt.verify(p, h), source=S_PASSLIB + " ldap_bcrypt")
    # Spring {bcrypt}$2a$
    for pw in ["пароль"]:
        inner = bcrypt.hashpw(enc(pw), bcrypt.gensalt(4, b"2a")).decode()
        h = "{bcrypt}" + inner
        add(f"bcrypt-spring-{slug(pw)}", "bcrypt", h, pw,
            check=lambda p, inner=inner: bcrypt.checkpw(p, inner.encode()),
            source=S_BCRYPT + "; constructed Spring Security DelegatingPasswordEncoder form '{bcrypt}' + BCryptPasswordEncoder output")

    # Published
    h = "$2a$10$vVz26aE3xkpSS9HFgafcH.M0Ina2tRm.Kp08WcVfjipXccGakj6i."
    add("bcrypt-published-supabase-test", "bcrypt", h, "test", wrong=["test_Password", "Test"],
        check=lambda p, h=h: bcrypt.checkpw(p, h.encode()),
        source="published: github.com/supabase/auth internal/crypto/password_test.go (TestBcrypt)")
    h = "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"
    add("bcrypt-published-auth0-hello", "bcrypt", h, "hello", wrong=["Hello", "hello!"],
        check=lambda p, h=h: bcrypt.checkpw(p, h.encode()),
        source="published: Auth0 docs 'Bulk User Import Database Schema and Examples' (custom_password_hash bcrypt example, 'generated from the string hello')")


def gen_bcrypt_sha256() -> None:
    for ver, pws in [(1, ["password", "密码🔑"]), (2, ["pässwörd", "пароль"])]:
        for pw in pws:
            h = ph.bcrypt_sha256.using(version=ver, rounds=5).hash(pw)
            add(f"bcrypt-sha256-v{ver}-{slug(pw)}", "bcrypt-sha256", h, pw,
                check=lambda p, h=h: ph.bcrypt_sha256.verify(p, h),
                source=S_PASSLIB + f" bcrypt_sha256.using(version={ver}, rounds=5)")
    # v2 with a >72-byte password: the sha256 pre-hash means ALL bytes count
    long = "z" * 100
    h = ph.bcrypt_sha256.using(rounds=4).hash(long)
    add("bcrypt-sha256-v2-long-100", "bcrypt-sha256", h, long, wrong=["z" * 72, "z" * 99 + "y"],
        check=lambda p, h=h: ph.bcrypt_sha256.verify(p, h),
        source=S_PASSLIB + " bcrypt_sha256 v2; 100-byte password: no 72-byte truncation thanks to the HMAC-SHA256 pre-hash")


def gen_django_bcrypt_sha256() -> None:
    for pw in ["password", "密码🔑"]:
        h = dj_make(pw, hasher="bcrypt_sha256")
        add(f"django-bcrypt-sha256-{slug(pw)}", "django-bcrypt-sha256", h, pw,
            check=lambda p, h=h: dj_check(p.decode(), h),
            source=S_DJANGO + " BCryptSHA256PasswordHasher (bcrypt of hex(sha256(password)), rounds=5)")
    long = "ü" * 60  # 120 bytes
    h = dj_make(long, hasher="bcrypt_sha256")
    add("django-bcrypt-sha256-long-120-bytes", "django-bcrypt-sha256", h, long, wrong=["ü" * 36, "ü" * 59 + "u"],
        check=lambda p, h=h: dj_check(p.decode(), h),
        source=S_DJANGO + " BCryptSHA256PasswordHasher; 120-byte password, no truncation")


def wp_prehash(p: bytes) -> bytes:
    return base64.b64encode(hmac.new(b"wp-sha384", p, hashlib.sha384).digest())


def gen_wordpress() -> None:
    for pw, cost in [("password", 5), ("pässwörd", 4), ("密码🔑", 4), ("x" * 100, 4)]:
        inner = bcrypt.hashpw(wp_prehash(enc(pw)), b"$2y$" + bcrypt.gensalt(cost)[4:]).decode()  # PHP writes $2y$
        h = "$wp" + inner
        wrong = near(pw) if len(pw) < 100 else ["x" * 72, "x" * 99 + "y"]
        add(f"wordpress-bcrypt-{slug(pw) if len(pw) < 100 else 'long-100'}", "wordpress-bcrypt", h, pw, wrong=wrong,
            check=lambda p, inner=inner: bcrypt.checkpw(wp_prehash(p), inner.encode()),
            source=S_BCRYPT + " + hmac; constructed per WordPress 6.8 wp-includes/pluggable.php: '$wp' . "
            "password_hash(base64_encode(hash_hmac('sha384', $password, 'wp-sha384', true)), PASSWORD_BCRYPT)")
    for vid, h, pw, where in [
        ("wordpress-bcrypt-published-grimoire", "$wp$2y$12$iWN5xRwDE7i9R5jVJvCyqOxS1CNnwUggQaF8O2W9Bg8TuXQz.ngrS",
         "grimoire-test-123", "third-party spec 'Golden test vector' (states it was checked against a live WordPress 6.8 wp_check_password)"),
        ("wordpress-bcrypt-published-bigbike", "$wp$2y$10$qeleDSuDaeZO5fBsEqFReeWdlqaDnBDBzB16hFgsFnhN9qFBIihvm",
         "BigBike@2026", "third-party test PasswordServiceWpHashTest.java (states it was generated with PHP password_hash)"),
        ("wordpress-bcrypt-published-na101918", "$wp$2y$10$y6/UfA/WhvVLZK6RxBSJE./L6YpJN8ChGg15a0Pqry/bTGsDuMR1q",
         "Na101918!", "third-party Laravel hasher test (test_it_can_verify_wordpress_style_passwords)"),
    ]:
        inner = h[3:]
        add(vid, "wordpress-bcrypt", h, pw, wrong=near(pw),
            check=lambda p, inner=inner: bcrypt.checkpw(wp_prehash(p), inner.encode()),
            source=f"published: {where}; re-verified with {S_BCRYPT} + HMAC-SHA384 pre-hash (WordPress core's phpunit "
            "tests/phpunit/tests/auth.php generates its $wp$ hashes at run time and has no literal vector)")


# ============================================================================================
# Argon2
# ============================================================================================
A2T = {"argon2id": a2.Type.ID, "argon2i": a2.Type.I, "argon2d": a2.Type.D}


def a2verify(h: str, typ: str):
    return lambda p: _safe(lambda: a2.verify_secret(h.encode(), p, A2T[typ]))


def _safe(fn) -> bool:
    try:
        return bool(fn())
    except Exception:
        return False


def gen_argon2() -> None:
    for typ, params, pws in [
        ("argon2id", dict(time_cost=2, memory_cost=1024, parallelism=1), ["password", "密码🔑"]),
        ("argon2id", dict(time_cost=1, memory_cost=19456, parallelism=2), ["пароль"]),
        ("argon2i", dict(time_cost=3, memory_cost=1024, parallelism=1), ["пароль"]),
        ("argon2d", dict(time_cost=2, memory_cost=2048, parallelism=2), ["password", "密码🔑"]),
    ]:
        hasher = argon2.PasswordHasher(type=A2T[typ], hash_len=32, salt_len=16, **params)
        for pw in pws:
            h = hasher.hash(pw)
            add(f"{typ}-cffi-m{params['memory_cost']}-{slug(pw)}", typ, h, pw, check=a2verify(h, typ),
                source=S_ARGON2 + f" PasswordHasher(type={typ}, {', '.join(f'{k}={v}' for k, v in params.items())})")
    # argon2d with an odd hash length and short password
    h = a2.hash_secret(b"a", os.urandom(8), time_cost=1, memory_cost=64, parallelism=1, hash_len=20,
                       type=a2.Type.D).decode()
    add("argon2d-cffi-m64-hashlen20-short", "argon2d", h, "a", check=a2verify(h, "argon2d"),
        source=S_ARGON2 + " low_level.hash_secret(m=64, t=1, p=1, 8-byte salt, 20-byte hash)")
    # passlib argon2
    for typ, pw in [("ID", "correct horse battery staple"), ("I", "pässwörd"), ("D", "пароль")]:
        h = ph.argon2.using(type=typ, memory_cost=1024, rounds=2, parallelism=1).hash(pw)
        name = "argon2" + typ.lower()
        add(f"{name}-passlib-{slug(pw)}", name, h, pw, check=lambda p, h=h: ph.argon2.verify(p, h),
            source=S_PASSLIB + f" argon2.using(type='{typ}', memory_cost=1024, rounds=2) (argon2-cffi backend)")
    # version 0x10 (v=16) and the old encoding without v=
    for pw in ["pässwörd"]:
        h = a2.hash_secret(enc(pw), os.urandom(16), time_cost=2, memory_cost=1024, parallelism=1, hash_len=32,
                           type=a2.Type.I, version=16).decode()
        assert "$v=16$" in h
        add(f"argon2i-v16-{slug(pw)}", "argon2i", h, pw,
            check=lambda p, h=h: a2verify(h, "argon2i")(p) and ph.argon2.verify(p, h),
            source=S_ARGON2 + " low_level.hash_secret(version=16) (Argon2 1.0); also verified by " + S_PASSLIB)
        nov = h.replace("$v=16$", "$")
        add(f"argon2i-no-version-field-{slug(pw)}", "argon2i", nov, pw,
            check=lambda p, nov=nov: a2verify(nov, "argon2i")(p) and ph.argon2.verify(p, nov),
            source=S_ARGON2 + " v=16 hash with the 'v=16$' field removed (pre-1.3 encoding; a missing v= means "
            "version 0x10); verified by argon2-cffi verify_secret and " + S_PASSLIB)
    h = a2.hash_secret(b"test", os.urandom(16), time_cost=2, memory_cost=1024, parallelism=1, hash_len=32,
                       type=a2.Type.ID, version=16).decode()
    add("argon2id-v16-test", "argon2id", h, "test", check=a2verify(h, "argon2id"),
        source=S_ARGON2 + " low_level.hash_secret(type=ID, version=16)")
    # Django
    for hasher_name, cls, pw in [("argon2", "FastArgon2", "密码🔑"),
                                 ("argon2", "FastArgon2Big", "pässwörd")]:
        h = dj_make(pw, hasher=globals()[cls]())
        add(f"argon2id-django-{cls.lower()}-{slug(pw)}", "argon2id", h, pw, check=lambda p, h=h: dj_check(p.decode(), h),
            source=S_DJANGO + f" Argon2PasswordHasher subclass (m={globals()[cls].memory_cost}, t={globals()[cls].time_cost}, p={globals()[cls].parallelism})")
    # Published
    for vid, h, typ in [
        ("argon2i-published-supabase", "$argon2i$v=19$m=16,t=2,p=1$bGJRWThNOHJJTVBSdHl2dQ$NfEnUOuUpb7F2fQkgFUG4g", "argon2i"),
        ("argon2id-published-supabase", "$argon2id$v=19$m=32,t=3,p=2$SFVpOWJ0eXhjRzVkdGN1RQ$RXnb8rh7LaDcn07xsssqqulZYXOM/EUCEFMVcAcyYVk", "argon2id"),
    ]:
        add(vid, typ, h, "test", wrong=["test1", "Test"], check=a2verify(h, typ),
            source="published: github.com/supabase/auth internal/crypto/password_test.go (TestArgon2)")
    for vid, h in [
        ("argon2id-published-kratos-t2", "$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw"),
        ("argon2id-published-kratos-t5", "$argon2id$v=19$m=32,t=5,p=4$cm94YnRVOW5jZzFzcVE4bQ$fBxypOL0nP/zdPE71JtAV71i487LbX3fJI5PoTN6Lp4"),
    ]:
        add(vid, "argon2id", h, "test", wrong=["tesT", "test "], check=a2verify(h, "argon2id"),
            source="published: github.com/ory/kratos hash/hasher_test.go (TestCompare/Argon2)")


# ============================================================================================
# scrypt (plain) and Firebase scrypt
# ============================================================================================
def scrypt_raw(p: bytes, salt: bytes, n: int, r: int, pp: int, dklen: int) -> bytes:
    return hashlib.scrypt(p, salt=salt, n=n, r=r, p=pp, dklen=dklen, maxmem=256 * 1024 * 1024)


def gen_scrypt() -> None:
    for pw, ln, r, p in [("password", 10, 8, 1), ("pässwörd", 11, 4, 2)]:
        h = ph.scrypt.using(rounds=ln, block_size=r, parallelism=p).hash(pw)
        add(f"scrypt-passlib-phc-{slug(pw)}", "scrypt", h, pw, check=lambda x, h=h: ph.scrypt.verify(x, h),
            source=S_PASSLIB + f" scrypt.using(rounds={ln}, block_size={r}, parallelism={p}) ($scrypt$ PHC, ln = log2 N)")
    for pw in ["пароль", "Tr0ub4dor&3"]:
        h = ph.scrypt.using(rounds=10, ident="$7$").hash(pw)
        add(f"scrypt-passlib-7-{slug(pw)}", "scrypt", h, pw, check=lambda x, h=h: ph.scrypt.verify(x, h),
            source=S_PASSLIB + " scrypt.using(ident='$7$', rounds=10) (libsodium/'$7$' encoding)")
    # libxcrypt $7$: the default crypt_gensalt('$7$') setting is N=2^14, r=32 (64 MiB); build a cheap one by hand
    for pw, setting_head in [("password", "$7$86..../...."), ("pässwörd", "$7$94..../....")]:
        salt = "".join(secrets.choice(ITOA64) for _ in range(16))
        h = xc_crypt(enc(pw), setting_head + salt)
        add(f"scrypt-libxcrypt-7-{slug(pw)}", "scrypt", h, pw, check=lambda x, h=h: xc_verify(x, h),
            source=S_XCRYPT + f" with a hand-made '$7$' setting '{setting_head}<salt>' (N=2^{ITOA64.index(setting_head[3])}, "
            f"r={ITOA64.index(setting_head[4])}, p=1); crypt_gensalt_rn('$7$') works too but defaults to N=2^14, r=32")
    # Werkzeug scrypt:N:r:p$salt$hex
    for pw, method in [("password", "scrypt:1024:8:1"), ("密码🔑", "scrypt:2048:4:2")]:
        h = wz.generate_password_hash(pw, method=method)
        add(f"scrypt-werkzeug-{slug(pw)}", "scrypt", h, pw, check=lambda x, h=h: wz.check_password_hash(h, x.decode()),
            source=S_WERKZEUG + f"(method='{method}')")
    # Django scrypt$N$salt$r$p$b64
    for cls, pw in [("FastScrypt2", "пароль"), ("FastScrypt", "")]:
        h = dj_make(pw, hasher=globals()[cls]())
        add(f"scrypt-django-{cls.lower()}-{slug(pw)}", "scrypt", h, pw, check=lambda x, h=h: dj_check(x.decode(), h),
            source=S_DJANGO + f" ScryptPasswordHasher subclass (N={globals()[cls].work_factor}, r={globals()[cls].block_size}, p={globals()[cls].parallelism})")
    # Kratos $scrypt$ln=<N itself>,r=..,p=..$<padded std b64 salt>$<padded std b64 hash>
    for pw, n, r, p, sl, kl in [("password", 1024, 8, 1, 32, 32), ("密码🔑", 2048, 4, 2, 20, 64)]:
        salt = os.urandom(sl)
        dk = scrypt_raw(enc(pw), salt, n, r, p, kl)
        h = f"$scrypt$ln={n},r={r},p={p}${b64(salt)}${b64(dk)}"
        add(f"scrypt-kratos-{slug(pw)}", "scrypt", h, pw,
            check=lambda x, salt=salt, n=n, r=r, p=p, dk=dk: scrypt_raw(x, salt, n, r, p, len(dk)) == dk,
            source=S_HASHLIB + " (hashlib.scrypt); Kratos encoding per ory/kratos hash/hash_comparator.go decodeScryptHash: "
            "'ln' is N itself (passed straight to scrypt.Key), salt/hash are PADDED standard base64, key length = len(hash)")
    h = "$scrypt$ln=16384,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE="
    salt, dk = base64.b64decode("2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA="), base64.b64decode("MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=")
    add("scrypt-published-kratos", "scrypt", h, "test", wrong=["tesu", "Test"],
        check=lambda x: scrypt_raw(x, salt, 16384, 8, 1, 32) == dk,
        source="published: github.com/ory/kratos hash/hasher_test.go (TestCompare/scrypt)")


def firebase(p: bytes, salt: bytes, sep: bytes, signer: bytes, rounds: int, mem_cost: int) -> bytes:
    ck = scrypt_raw(p, salt + sep, 1 << mem_cost, rounds, 1, 32)
    e = Cipher(algorithms.AES(ck), modes.CTR(b"\x00" * 16)).encryptor()
    return e.update(signer) + e.finalize()


def firebase_encodings(base_id: str, pw, wrong, salt_b64, hash_b64, sep_b64, key_b64, rounds, mem_cost, src,
                       only=("kratos", "supabase", "supertokens", "clerk")):
    salt, hsh, sep, key = (base64.b64decode(x) for x in (salt_b64, hash_b64, sep_b64, key_b64))

    def check(p):
        return hmac.compare_digest(firebase(p, salt, sep, key, rounds, mem_cost), hsh)

    encodings = {
        "kratos": (f"$firescrypt$ln={mem_cost},r={rounds},p=1${salt_b64}${hash_b64}${sep_b64}${key_b64}", None,
                   "Kratos encoding per ory/kratos hash/hash_comparator.go decodeFirebaseScryptHash: "
                   "$firescrypt$ln=<mem_cost (log2 N)>,r=<rounds>,p=1$<salt>$<hash>$<salt separator>$<signer key>, "
                   "all padded std base64"),
        "supabase": (f"$fbscrypt$v=1,n={mem_cost},r={rounds},p=1,ss={sep_b64},sk={key_b64}${salt_b64}${hash_b64}", None,
                     "Supabase encoding per github.com/supabase/auth internal/crypto/password.go fbscryptHashRegexp: "
                     "$fbscrypt$v=1,n=<mem_cost (log2 N)>,r=<rounds>,p=1,ss=<sep>,sk=<signer key>$<salt>$<hash>"),
        "supertokens": (f"$f_scrypt${hash_b64}${salt_b64}$m={mem_cost}$r={rounds}$s={sep_b64}", {"firebase_signer_key": key_b64},
                        "SuperTokens encoding per supertokens-core ParsedFirebaseSCryptResponse.java: "
                        "$f_scrypt$<hash>$<salt>$m=<mem_cost>$r=<rounds>$s=<sep> (the m=/r=/s= fields may come in any "
                        "order); the signer key is core config firebase_password_hashing_signer_key, given here in options"),
        "clerk": (f"{hash_b64}${salt_b64}${key_b64}${sep_b64}${rounds}${mem_cost}", None,
                  "Clerk scrypt_firebase password_digest per Clerk Backend API CreateUser docs: "
                  "<hash>$<salt>$<signer key>$<salt separator>$<rounds>$<memory cost> (no leading $)"),
    }
    for name in only:
        h, options, how = encodings[name]
        add(f"{base_id}-{name}", "firebase-scrypt", h, pw, wrong=wrong, check=check, options=options, source=src + "; " + how)


def gen_firebase() -> None:
    k1 = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
    k2 = "NkZlKPkYEFfnbh1nYTfLsbqQnQ6jyRV4itK7iUD+hjO96tsAYhBG40BVS3AuJyiwHinqc5RR3oA+lppOXPNRmw=="
    fb = "published: github.com/firebase/scrypt README / tests (re-verified here with hashlib.scrypt + cryptography AES-256-CTR)"
    firebase_encodings("firebase-published-user1password", "user1password", ["user1Password", "user1password "],
                       "42xEC+ixf3L2lw==", "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
                       "Bw==", k1, 8, 14, fb)
    firebase_encodings("firebase-published-hunter2", "hunter2", ["hunter3", "Hunter2"],
                       "42xEC+ixf3L2lw==", "70k8Vg5B3/OrvJOiqusnasv0dLcBHoDAqJrJr7TRLBfMw4MitWx51YXJYFdGiyMbMeKtWtLf5HiBDcN0SUOm4A==",
                       "Bw==", k1, 8, 14, fb)
    firebase_encodings("firebase-published-two-space", "two space password", ["two  space password", "two space passworD"],
                       "GGc/eCzFj6DM0g==", "5RZZm9Jz7p/u+FGXMInlJtAYFmMBj6ioL1UOdWfsUknAFCnsPpnnKRLyXSUFwwKbM4lx7TdFclBsT16Z8uuumg==",
                       "Bw==", k2, 8, 14, fb)
    firebase_encodings("firebase-published-kratos-8x4w", "8x4WjoDbSxJZdR", ["8x4WjoDbSxJZdr"],
                       "sPtDhWcd1MfdAw==", "xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==",
                       "Bw==", "YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyw==", 8, 14,
                       "published: github.com/ory/kratos hash/hasher_test.go (TestCompare/firescrypt)")
    firebase_encodings("firebase-published-supabase-mytest", "mytestpassword", ["mytestpassworD"],
                       "C0sHCg9ek77hsg==", "zKVTMvnWVw5BBOZNUdnsalx4c4c7y/w7IS5p6Ut2+CfEFFlz37J9huyQfov4iizN8dbjvEJlM5tQaJP84+hfTw==",
                       "Bw==", "ou9tdYTGyYm8kuR6Dt0Bp0kDuAYoXrK16mbZO4yGwAn3oLspjnN0/c41v8xZnO1n14J3MjKj1b2g6AUCAlFwMw==", 8, 14,
                       "published: github.com/supabase/auth internal/crypto/password_test.go (TestScrypt)")
    # Generated, cheap (mem_cost 10), Unicode
    key = b64(os.urandom(64))
    for pw, rounds, mem, only in [("pässwörd", 8, 10, ("kratos", "clerk")), ("密码🔑", 4, 11, ("supabase", "supertokens"))]:
        salt = os.urandom(10)
        hsh = firebase(enc(pw), salt, b"\x07", base64.b64decode(key), rounds, mem)
        firebase_encodings(f"firebase-generated-{slug(pw)}", pw, near(pw), b64(salt), b64(hsh), "Bw==", key, rounds, mem,
                           S_HASHLIB + " + cryptography AES-256-CTR, per the firebase/scrypt algorithm (scrypt(pw, salt||sep, "
                           "N=2^mem_cost, r=rounds, p=1, 32 bytes) as AES-256-CTR key, zero IV, encrypting the signer key); "
                           "UTF-8 password bytes", only=only)


# ============================================================================================
# PBKDF2
# ============================================================================================
def pbkdf2(name: str, p: bytes, salt: bytes, it: int, dklen: int) -> bytes:
    return hashlib.pbkdf2_hmac(name, p, salt, it, dklen)


def gen_pbkdf2() -> None:
    # passlib $pbkdf2$ / $pbkdf2-sha256$ / $pbkdf2-sha512$ (ab64)
    for handler, scheme, pws in [(ph.pbkdf2_sha1, "pbkdf2-sha1", ["пароль"]),
                                 (ph.pbkdf2_sha256, "pbkdf2-sha256", ["pässwörd"]),
                                 (ph.pbkdf2_sha512, "pbkdf2-sha512", ["password"])]:
        for pw in pws:
            h = handler.using(rounds=1000 + len(pw)).hash(pw)
            add(f"{scheme}-passlib-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
                source=S_PASSLIB + f" {handler.name}")
    # LDAP {PBKDF2}, {PBKDF2-SHA256}, {PBKDF2-SHA512}; Atlassian {PKCS5S2}
    for handler, scheme, pw in [(ph.ldap_pbkdf2_sha1, "pbkdf2-sha1", "password"),
                                (ph.ldap_pbkdf2_sha256, "pbkdf2-sha256", "пароль"),
                                (ph.ldap_pbkdf2_sha512, "pbkdf2-sha512", "密码🔑")]:
        h = handler.using(rounds=2000).hash(pw)
        add(f"{scheme}-ldap-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
            source=S_PASSLIB + f" {handler.name}")
    for pw in ["pässwörd"]:
        h = ph.atlassian_pbkdf2_sha1.hash(pw)
        add(f"pbkdf2-sha1-atlassian-{slug(pw)}", "pbkdf2-sha1", h, pw, check=lambda x, h=h: ph.atlassian_pbkdf2_sha1.verify(x, h),
            source=S_PASSLIB + " atlassian_pbkdf2_sha1 ({PKCS5S2}: 10000 iterations, 16-byte salt, 32-byte key)")
    # Django
    for hasher, scheme, pw in [("pbkdf2_sha256", "pbkdf2-sha256", "пароль"),
                               ("pbkdf2_sha1", "pbkdf2-sha1", "pässwörd")]:
        h = dj_make(pw, hasher=hasher)
        add(f"{scheme}-django-{slug(pw)}", scheme, h, pw, check=lambda x, h=h: dj_check(x.decode(), h),
            source=S_DJANGO + f" {'PBKDF2PasswordHasher' if hasher.endswith('256') else 'PBKDF2SHA1PasswordHasher'} (10000 iterations)")
    # Werkzeug
    for method, scheme, pw in [("pbkdf2:sha256:30000", "pbkdf2-sha256", "密码🔑"),
                               ("pbkdf2:sha512:2000", "pbkdf2-sha512", "pässwörd"), ("pbkdf2:sha1:1000", "pbkdf2-sha1", "пароль")]:
        h = wz.generate_password_hash(pw, method=method)
        add(f"{scheme}-werkzeug-{method.split(':')[2]}-{slug(pw)}", scheme, h, pw,
            check=lambda x, h=h: wz.check_password_hash(h, x.decode()), source=S_WERKZEUG + f"(method='{method}')")
    # PHC as Kratos / Auth0 write it: $pbkdf2-<d>$i=<it>,l=<len>$<b64 raw salt>$<b64 raw hash> (std alphabet, no padding)
    for d, pw, it, sl, kl in [("sha1", "password", 1000, 16, 20), ("sha256", "pässwörd", 10000, 32, 32),
                              ("sha384", "密码🔑", 2000, 16, 48), ("sha384", "password", 1000, 24, 32),
                              ("sha512", "пароль", 5000, 16, 64)]:
        salt = os.urandom(sl)
        dk = pbkdf2(d, enc(pw), salt, it, kl)
        h = f"$pbkdf2-{d}$i={it},l={kl}${b64raw(salt)}${b64raw(dk)}"
        add(f"pbkdf2-{d}-phc-kratos-{slug(pw)}", f"pbkdf2-{d}", h, pw,
            check=lambda x, d=d, salt=salt, it=it, dk=dk: pbkdf2(d, x, salt, it, len(dk)) == dk,
            source=S_HASHLIB + " (hashlib.pbkdf2_hmac); PHC form per ory/kratos hash/hash_comparator.go decodePbkdf2Hash "
            "(RawStdEncoding = standard alphabet '+/', no padding) and Auth0 custom_password_hash pbkdf2 docs")
    for vid, h, d, wrong in [
        ("pbkdf2-sha256-published-kratos", "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", "sha256", ["Test"]),
        ("pbkdf2-sha512-published-kratos", "$pbkdf2-sha512$i=100000,l=32$bdHBpn7OWOivJMVJypy2UqR0UnaD5prQXRZevj/05YU$+wArTfv1a+bNGO1iZrmEdVjhA+lL11wF4/IxpgYfPwc", "sha512", ["tesT"]),
    ]:
        parts = h.split("$")
        salt, dk = unb64(parts[3]), unb64(parts[4])
        add(vid, f"pbkdf2-{d}", h, "test", wrong=wrong,
            check=lambda x, d=d, salt=salt, dk=dk: pbkdf2(d, x, salt, 100000, len(dk)) == dk,
            source="published: github.com/ory/kratos hash/hasher_test.go (TestCompare/pbkdf2)")

    # ASP.NET Core Identity
    def aspnet_check(stored: str):
        raw = base64.b64decode(stored)

        def chk(p: bytes) -> bool:
            if raw[0] == 0x00:
                if len(raw) != 1 + 16 + 32:
                    return False
                return pbkdf2("sha1", p, raw[1:17], 1000, 32) == raw[17:]
            if raw[0] == 0x01:
                prf, it, sl = (int.from_bytes(raw[i:i + 4], "big") for i in (1, 5, 9))
                salt, sub = raw[13:13 + sl], raw[13 + sl:]
                return pbkdf2({0: "sha1", 1: "sha256", 2: "sha512"}[prf], p, salt, it, len(sub)) == sub
            return False
        return chk

    for pw in ["password", "pässwörd"]:
        salt = os.urandom(16)
        h = b64(b"\x00" + salt + pbkdf2("sha1", enc(pw), salt, 1000, 32))
        add(f"pbkdf2-sha1-aspnet-v2-{slug(pw)}", "pbkdf2-sha1", h, pw, check=aspnet_check(h),
            source=S_HASHLIB + "; ASP.NET Identity v2 per dotnet/aspnetcore src/Identity/Extensions.Core/src/PasswordHasher.cs: "
            "base64(0x00 || salt[16] || PBKDF2-HMAC-SHA1(utf8(pw), salt, 1000, 32))")
    for prf, d, it, sl, kl, pw in [(1, "sha256", 10000, 16, 32, "密码🔑"), (2, "sha512", 20000, 16, 32, "пароль"),
                                   (1, "sha256", 1000, 32, 64, "p@ss w0rd!")]:
        salt = os.urandom(sl)
        sub = pbkdf2(d, enc(pw), salt, it, kl)
        h = b64(b"\x01" + prf.to_bytes(4, "big") + it.to_bytes(4, "big") + sl.to_bytes(4, "big") + salt + sub)
        add(f"pbkdf2-{d}-aspnet-v3-{it}-{slug(pw)}", f"pbkdf2-{d}", h, pw, check=aspnet_check(h),
            source=S_HASHLIB + "; ASP.NET Identity v3 per dotnet/aspnetcore PasswordHasher.cs: base64(0x01 || prf u32be "
            "(0=SHA1,1=SHA256,2=SHA512) || iter u32be || saltlen u32be || salt || subkey); subkey length = the rest")
    for vid, h, d in [
        ("pbkdf2-sha1-published-aspnet-v2", "ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A==", "sha1"),
        ("pbkdf2-sha256-published-aspnet-v3-default", "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==", "sha256"),
        ("pbkdf2-sha512-published-aspnet-v3-50-iter-128-bit", "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4B6pZWND6zgESBuWiHw", "sha512"),
        ("pbkdf2-sha512-published-aspnet-v3-250-iter-512-bit", "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==", "sha512"),
        ("pbkdf2-sha1-published-aspnet-v3-250-iter", "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M", "sha1"),
        ("pbkdf2-sha256-published-aspnet-v3-250000-iter", "AQAAAAEAA9CQAAAAIESkQuj2Du8Y+kbc5lcN/W/3NiAZFEm11P27nrSN5/tId+bR1SwV8CO1Jd72r4C08OLvplNlCDc3oQZ8efcW+jQ=", "sha256"),
    ]:
        add(vid, f"pbkdf2-{d}", h, "my password", wrong=["my password ", "My password"], check=aspnet_check(h),
            source="published: github.com/dotnet/aspnetcore src/Identity/test/Identity.Test/PasswordHasherTest.cs")


# ============================================================================================
# crypt(3) family via libxcrypt, apr1, Kratos spellings, LDAP {CRYPT}
# ============================================================================================
def gen_crypt() -> None:
    for prefix, scheme, counts in [("$1$", "md5-crypt", [0]), ("$5$", "sha256-crypt", [0, 1000]),
                                   ("$6$", "sha512-crypt", [0, 1000]), ("$y$", "yescrypt", [0, 1])]:
        pws = {"md5-crypt": ["password", "pässwörd", "密码🔑"], "sha256-crypt": ["пароль", "密码🔑"],
               "sha512-crypt": ["pässwörd", ""], "yescrypt": ["password", "пароль", "密码🔑", "a"]}[scheme]
        for i, pw in enumerate(pws):
            cnt = counts[i % len(counts)]
            h = xc_crypt(enc(pw), xc_gensalt(prefix, cnt))
            tag = h.split("$")[2] if scheme == "yescrypt" else ("rounds" + h.split("$")[2][7:] if "rounds=" in h else "default")
            add(f"{scheme}-libxcrypt-{tag.lower()}-{slug(pw)}", scheme, h, pw, check=lambda x, h=h: xc_verify(x, h),
                source=S_XCRYPT + f" crypt_gensalt_rn('{prefix}', {cnt})")
    for pw in ["password", "pässwörd", "密码🔑"]:
        h = ph.apr_md5_crypt.hash(pw)
        add(f"apr-md5-crypt-{slug(pw)}", "apr-md5-crypt", h, pw, check=lambda x, h=h: ph.apr_md5_crypt.verify(x, h),
            source=S_PASSLIB + " apr_md5_crypt")
    # Kratos spellings ($1$ -> $md5-crypt$, $5$ -> $sha256-crypt$, $6$ -> $sha512-crypt$)
    for prefix, kname, scheme, cnt, pw in [("$1$", "md5-crypt", "md5-crypt", 0, "пароль"),
                                           ("$5$", "sha256-crypt", "sha256-crypt", 5000, "pässwörd"),
                                           ("$5$", "sha256-crypt", "sha256-crypt", 1000, "password"),
                                           ("$6$", "sha512-crypt", "sha512-crypt", 1000, "密码🔑"),
                                           ("$6$", "sha512-crypt", "sha512-crypt", 5000, "password")]:
        h = xc_crypt(enc(pw), xc_gensalt(prefix, cnt))
        body = h[len(prefix):]
        if prefix != "$1$" and not body.startswith("rounds="):
            body = "rounds=5000$" + body  # Kratos writes rounds= explicitly; libxcrypt omits it for the default 5000
        k = f"${kname}${body}"
        orig = prefix + body

        def chk(x, orig=orig):
            return xc_verify(x, orig) if "rounds=5000$" not in orig else xc_crypt(x, orig) == orig

        add(f"{scheme}-kratos-{slug(pw)}-{cnt or 'default'}", scheme, k, pw, check=chk,
            source=S_XCRYPT + f" output re-spelled the Kratos way ('{prefix}' -> '${kname}$') per ory/kratos "
            "hash/hash_comparator.go (CompareMD5Crypt/CompareSHA256Crypt/CompareSHA512Crypt swap the prefix back)")
    for vid, h, scheme, pw, wrong in [
        ("md5-crypt-published-kratos-test", "$md5-crypt$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C/", "md5-crypt", "test", ["tesT"]),
        ("md5-crypt-published-kratos-empty-salt", "$md5-crypt$$whuMjZj.HMFoaTaZRRtkO0", "md5-crypt", "test", ["Test"]),
        ("md5-crypt-published-kratos-ory", "$md5-crypt$xWMlm2eL$GGTOpgZu4p2k6ORprAu3b.", "md5-crypt", "ory", ["test", "Ory"]),
        ("sha256-crypt-published-kratos-535000", "$sha256-crypt$rounds=535000$05R.9KB6UC2kLI3w$Q/zslzx./JjkAVPTwp6th7nW5l7JU91Gte/UmIh.U78", "sha256-crypt", "test", ["ory"]),
        ("sha512-crypt-published-kratos-656000", "$sha512-crypt$rounds=656000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1", "sha512-crypt", "test", ["tesT"]),
    ]:
        orig = {"md5-crypt": "$1", "sha256-crypt": "$5", "sha512-crypt": "$6"}[scheme] + h[len(scheme) + 1:]
        add(vid, scheme, h, pw, wrong=wrong, check=lambda x, orig=orig: xc_verify(x, orig),
            source="published: github.com/ory/kratos hash/hasher_test.go (TestCompare); re-verified with " + S_XCRYPT)
    # LDAP {CRYPT}/{crypt}
    h = xc_crypt(b"password", xc_gensalt("$6$", 1000))
    add("sha512-crypt-ldap-crypt-upper", "sha512-crypt", "{CRYPT}" + h, "password", check=lambda x, h=h: xc_verify(x, h),
        source=S_XCRYPT + " output with the RFC 2307 '{CRYPT}' tag")
    h = xc_crypt("пароль".encode(), xc_gensalt("$1$", 0))
    add("md5-crypt-ldap-crypt-lower", "md5-crypt", "{crypt}" + h, "пароль", check=lambda x, h=h: xc_verify(x, h),
        source=S_XCRYPT + " output with a lower-case '{crypt}' tag (OpenLDAP scheme names are case-insensitive)")
    h = ph.ldap_sha256_crypt.using(rounds=1000).hash("pässwörd")
    add("sha256-crypt-ldap-crypt-passlib", "sha256-crypt", h, "pässwörd", check=lambda x, h=h: ph.ldap_sha256_crypt.verify(x, h),
        source=S_PASSLIB + " ldap_sha256_crypt")


def both(h: str, handler):
    """A check that libxcrypt AND passlib accept: two independent implementations."""
    return lambda x, h=h: xc_verify(x, h) and handler.verify(x, h)


def gen_unix_legacy() -> None:
    """The older crypt(3) schemes: each vector is made by one of libxcrypt and passlib and
    verified by both (where passlib has the scheme)."""
    both_src = " and re-verified with "
    # traditional DES crypt: libxcrypt with a random 2-character salt
    for pw in ["password", "pässwörd", "Tr0ub4dor&3", "a", ""]:
        h = xc_crypt(enc(pw), "".join(secrets.choice(ITOA64) for _ in range(2)))
        extra = {}
        if len(enc(pw)) > 8 and pw.isascii():
            extra = dict(also_accepts=[pw[:8]], wrong=[pw[:7], "x" + pw[1:]])
        elif len(enc(pw)) > 8:
            # "pässwö" is the first 8 bytes: what follows is ignored
            extra = dict(also_accepts=["pässwöXY"], wrong=["Pässwörd", "pässwo"])
        add(f"des-crypt-libxcrypt-{slug(pw)}", "des-crypt", h, pw, check=both(h, ph.des_crypt),
            source=S_XCRYPT + " crypt_rn() with a 2-character salt" + both_src + S_PASSLIB + " des_crypt"
            + ("; only the first 8 bytes count" if extra else ""), **extra)
    for pw in ["correct horse battery staple", "пароль"]:
        h = ph.des_crypt.hash(pw)
        add(f"des-crypt-passlib-{slug(pw)}", "des-crypt", h, pw, check=both(h, ph.des_crypt),
            source=S_PASSLIB + " des_crypt" + both_src + S_XCRYPT,
            **({"also_accepts": ["correct horse"], "wrong": ["correct", "Correct horse battery staple"]} if pw.startswith("correct")
               else {"also_accepts": ["пароXY"], "wrong": ["Пароль", "пар"]}))
    h = ph.ldap_des_crypt.hash("pass1234")
    add("des-crypt-ldap-crypt-passlib", "des-crypt", h, "pass1234", check=lambda x, h=h: ph.ldap_des_crypt.verify(x, h),
        source=S_PASSLIB + " ldap_des_crypt ('{CRYPT}' + DES crypt)")
    h = ph.django_des_crypt.hash("password")
    add("des-crypt-django-passlib-1-0", "des-crypt", h, "password", check=lambda x, h=h: ph.django_des_crypt.verify(x, h),
        source=S_PASSLIB + " django_des_crypt (Django 1.0's 'crypt$<5-char salt>$<DES crypt>' form)")
    inner = xc_crypt(b"Tr0ub4dr", "".join(secrets.choice(ITOA64) for _ in range(2)))
    h = "crypt$$" + inner
    add("des-crypt-django-empty-salt", "des-crypt", h, "Tr0ub4dr",
        check=lambda x, h=h, inner=inner: ph.django_des_crypt.verify(x, h) and xc_verify(x, inner),
        source=S_XCRYPT + " DES crypt in Django 1.4+'s CryptPasswordHasher form 'crypt$$<DES crypt>'" + both_src + S_PASSLIB + " django_des_crypt")
    # BSDi extended DES
    for pw, rounds in [("password", 725), ("correct horse battery staple", 5001), ("密码🔑", 7250)]:
        h = xc_crypt(enc(pw), xc_gensalt("_", rounds))
        add(f"bsdi-crypt-libxcrypt-{rounds}-{slug(pw)}", "bsdi-crypt", h, pw, check=both(h, ph.bsdi_crypt),
            source=S_XCRYPT + f" crypt_gensalt_rn('_', {rounds})" + both_src + S_PASSLIB + " bsdi_crypt")
    for pw in ["pass", "a"]:
        h = ph.bsdi_crypt.using(rounds=1001).hash(pw)
        add(f"bsdi-crypt-passlib-{slug(pw)}", "bsdi-crypt", h, pw, check=both(h, ph.bsdi_crypt),
            source=S_PASSLIB + " bsdi_crypt (rounds=1001)" + both_src + S_XCRYPT)
    # bigcrypt (needs --scheme bigcrypt: 13 characters are traditional DES crypt)
    for pw in ["correct horse battery staple", "pässwörd!", "password"]:
        h = ph.bigcrypt.hash(pw)
        add(f"bigcrypt-passlib-{slug(pw)}", "bigcrypt", h, pw, force="bigcrypt", check=both(h, ph.bigcrypt),
            wrong=[pw[:-1], pw + "x"] if len(pw) > 8 else None,
            source=S_PASSLIB + " bigcrypt" + both_src + S_XCRYPT + " (which reads a setting longer than 13 characters as bigcrypt)")
    # NetBSD sha1-crypt
    for pw, rounds in [("password", 480000), ("пароль", 5000), ("", 1)]:
        h = xc_crypt(enc(pw), xc_gensalt("$sha1", rounds))
        add(f"sha1-crypt-libxcrypt-{slug(pw)}", "sha1-crypt", h, pw, check=both(h, ph.sha1_crypt),
            source=S_XCRYPT + f" crypt_gensalt_rn('$sha1', {rounds})" + both_src + S_PASSLIB + " sha1_crypt")
    for pw in ["密码🔑", "p@ss w0rd!"]:
        h = ph.sha1_crypt.using(rounds=10000).hash(pw)
        add(f"sha1-crypt-passlib-{slug(pw)}", "sha1-crypt", h, pw, check=both(h, ph.sha1_crypt),
            source=S_PASSLIB + " sha1_crypt (rounds=10000)" + both_src + S_XCRYPT)
    # SunMD5: '$md5$salt$chk', '$md5$salt$$chk', and with rounds
    for pw, rounds, bare in [("password", 0, True), ("pässwörd", 0, False), ("пароль", 5000, True), ("密码🔑", 34000, False)]:
        # passlib writes the '$$' form; the bare form through its handler's own constructor
        obj = ph.sun_md5_crypt(rounds=rounds, salt="".join(secrets.choice(ITOA64) for _ in range(8)), bare_salt=bare)
        obj.checksum = obj._calc_checksum(pw)
        h = obj.to_string()
        add(f"sun-md5-crypt-passlib-{rounds}-{'bare' if bare else 'dollar'}-{slug(pw)}", "sun-md5-crypt", h, pw,
            check=both(h, ph.sun_md5_crypt),
            source=S_PASSLIB + f" sun_md5_crypt (rounds={rounds}, bare_salt={bare})" + both_src + S_XCRYPT)
    for pw, rounds in [("Tr0ub4dor&3", 0), ("a", 1000)]:
        h = xc_crypt(enc(pw), xc_gensalt("$md5", rounds))
        add(f"sun-md5-crypt-libxcrypt-{rounds}-{slug(pw)}", "sun-md5-crypt", h, pw, check=both(h, ph.sun_md5_crypt),
            source=S_XCRYPT + f" crypt_gensalt_rn('$md5', {rounds})" + both_src + S_PASSLIB + " sun_md5_crypt")
    # FreeBSD's NT hash in crypt form
    for pw in ["password", "pässwörd"]:
        h = ph.bsd_nthash.hash(pw)
        add(f"nthash-freebsd-{slug(pw)}", "nthash", h, pw, check=lambda x, h=h: ph.bsd_nthash.verify(x, h),
            source=S_PASSLIB + " bsd_nthash (FreeBSD '$3$$' + hex MD4 of UTF-16LE)")
    # gost-yescrypt (passlib has none): libxcrypt only
    for pw, cnt in [("password", 0), ("пароль", 1), ("密码🔑", 0), ("", 0)]:
        h = xc_crypt(enc(pw), xc_gensalt("$gy$", cnt))
        add(f"gost-yescrypt-libxcrypt-{slug(pw)}", "gost-yescrypt", h, pw, check=lambda x, h=h: xc_verify(x, h),
            source=S_XCRYPT + f" crypt_gensalt_rn('$gy$', {cnt})")


# ============================================================================================
# Database servers, and schemes salted with another field of the record
# ============================================================================================
SHA256_CRYPT_ORDER = [20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28,
                      18, 29, 19, 9, 30, 31]


def h64_encode(data: bytes) -> str:
    """crypt(3)'s little-endian base64 over ./0-9A-Za-z."""
    out = []
    for i in range(0, len(data), 3):
        chunk = data[i:i + 3]
        v = int.from_bytes(chunk, "little")
        out.extend(ITOA64[(v >> (6 * j)) & 63] for j in range(len(chunk) + 1))
    return "".join(out)


def sha256_crypt_any_salt(pw: bytes, salt: bytes, rounds: int) -> str:
    """Drepper's SHA-256-crypt (akkadia.org/drepper/SHA-crypt.txt) without its 16-byte salt cap,
    as MySQL 8's caching_sha2_password computes it (mysys/crypt_genhash_impl.cc, 20-byte salt)."""
    H = hashlib.sha256
    b = H(pw + salt + pw).digest()
    a = H(pw + salt)
    a.update((b * (len(pw) // 32 + 1))[:len(pw)])
    n = len(pw)
    while n:
        a.update(b if n & 1 else pw)
        n >>= 1
    d = a.digest()
    p = (H(pw * len(pw)).digest() * (len(pw) // 32 + 1))[:len(pw)]
    sbytes = (H(salt * (16 + d[0])).digest() * 2)[:len(salt)]
    for i in range(rounds):
        c = H()
        c.update(p if i & 1 else d)
        if i % 3:
            c.update(sbytes)
        if i % 7:
            c.update(p)
        c.update(d if i & 1 else p)
        d = c.digest()
    return h64_encode(bytes(d[i] for i in SHA256_CRYPT_ORDER))


def mysql323(pw: bytes) -> str:
    nr1, nr2, add = 0x50305735, 0x12345671, 7
    for c in pw:
        if c in b" \t":
            continue
        nr1 ^= ((((nr1 & 63) + add) * c) + (nr1 << 8)) & 0xFFFFFFFF
        nr2 = (nr2 + ((nr2 << 8) ^ nr1)) & 0xFFFFFFFF
        add = (add + c) & 0xFFFFFFFF
    return "%08x%08x" % (nr1 & 0x7FFFFFFF, nr2 & 0x7FFFFFFF)


def scram_sha256(pw: bytes, salt: bytes, it: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", pw, salt, it)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    return stored, server


def scram_check(h: str):
    it_salt, keys = h.split("$", 2)[1:]
    it, salt = it_salt.split(":")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    return lambda x: scram_sha256(x, base64.b64decode(salt), int(it)) == (stored, server)


S_PG = "PostgreSQL 15.18 (Debian 15.18-0+deb12u1): CREATE ROLE ... PASSWORD, then SELECT rolpassword FROM pg_authid"


def gen_databases() -> None:
    # Drepper's algorithm as reimplemented above must agree with libxcrypt on a $5$ salt first.
    for pw in [b"password", "密码🔑".encode(), b""]:
        h = xc_crypt(pw, xc_gensalt("$5$", 5000))
        salt, chk = h.split("$")[2:]
        assert sha256_crypt_any_salt(pw, salt.encode(), 5000) == chk, "sha256_crypt_any_salt disagrees with libxcrypt"
    S_MYSQL8 = (S_HASHLIB + "; MySQL 8 caching_sha2_password as mysql.user.authentication_string holds it: '$A$' + "
                "3 hex digits of rounds/1000 + '$' + 20 salt bytes + SHA-256-crypt (Drepper, salt not cut at 16) in "
                "crypt base64; the reimplementation in generate.py is first checked against libxcrypt's $5$")
    # MySQL 8: published hashcat example (mode 7401), re-checked with the reimplementation
    h = ("$mysql$A$005*F9CC98CE08892924F50A213B6BC571A2C11778C5*"
         "625479393559393965414D45316477456B484F41316E64484742577A2E3162785353526B7554584647562F")
    salt_hex, chk_hex = h.split("*")[1:]
    add("mysql-caching-sha2-published-hashcat-7401", "mysql-caching-sha2", h, "hashcat", wrong=["Hashcat", "hashcat1"],
        check=lambda x: sha256_crypt_any_salt(x, bytes.fromhex(salt_hex), 5000) == bytes.fromhex(chk_hex).decode(),
        source="published: hashcat --example-hashes, mode 7401 'MySQL $A$ (sha256crypt)' (hashcat's hex form "
        "$mysql$A$005*<hex salt>*<hex checksum>); re-verified with the SHA-256-crypt reimplementation in generate.py")
    for pw, rounds_hex, printable in [("password", "005", True), ("pässwörd", "005", False), ("密码🔑", "00A", True)]:
        # MySQL's salt bytes are 7-bit, never NUL or '$'
        alphabet = [c for c in range(1, 128) if c != ord("$")] if not printable else [ord(c) for c in ITOA64]
        salt = bytes(secrets.choice(alphabet) for _ in range(20))
        rounds = int(rounds_hex, 16) * 1000
        chk = sha256_crypt_any_salt(enc(pw), salt, rounds)
        h = f"$A${rounds_hex}$" + salt.decode("ascii") + chk
        add(f"mysql-caching-sha2-{rounds}-{slug(pw)}", "mysql-caching-sha2", h, pw,
            check=lambda x, salt=salt, rounds=rounds, chk=chk: sha256_crypt_any_salt(x, salt, rounds) == chk,
            source=S_MYSQL8 + ("" if printable else "; the salt holds control characters, as MySQL's may"))
    # MySQL 3.23 OLD_PASSWORD: 16 hex digits, forced
    add("mysql323-published-mysql-manual", "mysql323", "6f8c114b58f2ce9e", "mypass", force="mysql323",
        wrong=["Mypass", "mypas"], check=lambda x: ph.mysql323.verify(x, "6f8c114b58f2ce9e"),
        source="published: MySQL 4.1 reference manual 'Password Hashing in MySQL' (PASSWORD('mypass') before 4.1 = "
        "6f8c114b58f2ce9e); re-verified with " + S_PASSLIB + " mysql323")
    for pw in ["password", "pass word\t2", "пароль"]:
        h = ph.mysql323.hash(pw)
        extra = {"also_accepts": ["password2", " pass\tword 2"], "wrong": ["password", "Password2"]} if " " in pw else {}
        add(f"mysql323-passlib-{slug(pw) if not extra else 'whitespace'}", "mysql323", h, pw, force="mysql323",
            check=lambda x, h=h: ph.mysql323.verify(x, h) and mysql323(x) == h,
            source=S_PASSLIB + " mysql323, re-checked with the reimplementation in generate.py"
            + ("; spaces and tabs are skipped, so the same password without them matches" if extra else ""), **extra)
    # PostgreSQL SCRAM-SHA-256: from a real server, and constructed with hashlib per RFC 5802/7677
    for role, h, pw in [
        ("alice", "SCRAM-SHA-256$4096:owhGPTggii1sdIJ8L0PFog==$oyFV0oT5Za4RsNSrDi2Nt4IUKKcPd0EGvXbzBb1eP6Q=:7MNOfU+DPbQNgoW5wDqOXxqOmZCTf4yNJ/coGCMGdXg=", "password"),
        ("bob", "SCRAM-SHA-256$4096:uFhVV1HdbY+NbAY1JCwzEA==$FYDFDJ1E28fRJBeKG03VLzhcJhbSeujcP2C5sbTYW+0=:6qtBopYNcUuwMIb5lFWJT3xr+YQwf3Hzlps81dwCCFY=", "pässwörd"),
    ]:
        add(f"scram-sha-256-postgresql-{slug(pw)}", "scram-sha-256", h, pw, check=scram_check(h),
            source=S_PG + f" (role {role}, password_encryption = 'scram-sha-256'); re-verified with Python hashlib per RFC 5802/7677")
    for pw, it in [("密码🔑", 4096), ("correct horse battery staple", 10000), ("", 4096)]:
        salt = os.urandom(16)
        stored, server = scram_sha256(enc(pw), salt, it)
        h = f"SCRAM-SHA-256${it}:{b64(salt)}${b64(stored)}:{b64(server)}"
        add(f"scram-sha-256-hashlib-{it}-{slug(pw)}", "scram-sha-256", h, pw, check=scram_check(h),
            source=S_HASHLIB + "; PostgreSQL's SCRAM-SHA-256 verifier (src/common/scram-common.c): SaltedPassword = "
            "PBKDF2-HMAC-SHA256, StoredKey = SHA256(HMAC(SaltedPassword, 'Client Key')), ServerKey = HMAC(SaltedPassword, 'Server Key')")
    # PostgreSQL md5: md5(password || username), written <hash>:<username>
    for role, h, pw in [("carol", "md50e00111576cad575fd165d141e650d13", "Tr0ub4dor&3"),
                        ("Dave", "md56388f55df0b14969644e399123ced164", "пароль")]:
        add(f"postgres-md5-postgresql-{role.lower()}", "postgres-md5", f"{h}:{role}", pw, force="postgres-md5",
            check=lambda x, h=h, role=role: ph.postgres_md5.verify(x, h, user=role),
            source=S_PG + f" (role {role}, password_encryption = 'md5'), the role name joined as ':{role}'; "
            "re-verified with " + S_PASSLIB + " postgres_md5")
    for pw, user in [("password", "postgres"), ("pässwörd", "émile")]:
        h = ph.postgres_md5.hash(pw, user=user)
        add(f"postgres-md5-passlib-{slug(pw)}", "postgres-md5", f"{h}:{user}", pw, force="postgres-md5",
            check=lambda x, h=h, user=user: ph.postgres_md5.verify(x, h, user=user),
            source=S_PASSLIB + " postgres_md5 (md5 + md5(password + user)), the user name joined as ':<user>'")
    h = ph.postgres_md5.hash("密码🔑", user="bob")
    add("postgres-md5-hashcat-form", "postgres-md5", h[3:] + ":bob", "密码🔑", force="postgres-md5",
        check=lambda x, h=h: ph.postgres_md5.verify(x, h, user="bob"),
        source=S_PASSLIB + " postgres_md5, written as hashcat's mode 12 does: without the 'md5' prefix")
    # Oracle 10g: DES over UPPER(user || password) in UTF-16BE
    for user, pw, h in [("SYSTEM", "MANAGER", "D4DF7931AB130E37"), ("SCOTT", "TIGER", "F894844C34402B67")]:
        add(f"oracle10-published-{user.lower()}", "oracle10", f"{h}:{user}", pw, force="oracle10",
            wrong=["MANAGEr2" if user == "SYSTEM" else "TIGER2", "X"],
            also_accepts=[pw.lower()],
            check=lambda x, h=h, user=user: ph.oracle10.verify(x, h, user=user),
            source="published: Oracle 10g default account hashes (widely listed, e.g. passlib's oracle10 test vectors); "
            "re-verified with " + S_PASSLIB + " oracle10; the password is upper-cased, so either case matches")
    for pw, user in [("password", "app_user"), ("Pässwörd", "müller")]:
        h = ph.oracle10.hash(pw, user=user)
        add(f"oracle10-passlib-{slug(pw) if pw != 'Pässwörd' else 'latin'}", "oracle10", f"{h}:{user}", pw, force="oracle10",
            wrong=[pw + "x", pw[:-1]], also_accepts=[pw.upper()],
            check=lambda x, h=h, user=user: ph.oracle10.verify(x, h, user=user),
            source=S_PASSLIB + " oracle10, the user name joined as ':<user>'")
    # SQL Server 2000: 0x0100 + salt + SHA1(UTF-16LE(pw) + salt) + SHA1(UTF-16LE(UPPER(pw)) + salt)
    for pw in ["Password1", "pässwörd"]:
        h = ph.mssql2000.hash(pw)
        raw = bytes.fromhex(h[2:])
        salt, d1, d2 = raw[2:6], raw[6:26], raw[26:46]

        def chk(x, salt=salt, d1=d1, d2=d2):
            u = x.decode()
            return (hashlib.sha1(u.encode("utf-16-le") + salt).digest() == d1
                    and hashlib.sha1(u.upper().encode("utf-16-le") + salt).digest() == d2)
        add(f"mssql2000-passlib-{slug(pw) if pw != 'Password1' else 'ascii'}", "salted-sha1", h, pw,
            wrong=[pw.swapcase(), pw + "x"], check=chk,
            source=S_PASSLIB + " mssql2000, re-checked with hashlib: both digests, the exact password's and the "
            "upper-cased one's. SQL Server 2000 compared the upper-cased digest (case-insensitive); usher verifies "
            "the exact one, so a password in another case is refused")
    # Forum schemes salted with another column, written <hash>:<salt>
    def vb(x, salt):
        return hashlib.md5(hashlib.md5(x).hexdigest().encode() + salt).hexdigest()

    def ipb(x, salt):
        return hashlib.md5(hashlib.md5(salt).hexdigest().encode() + hashlib.md5(x).hexdigest().encode()).hexdigest()

    def smf(x, user):
        return hashlib.sha1(user.lower() + x).hexdigest()

    for scheme, fn, what, cases in [
        ("vbulletin", vb, "vBulletin 3/4 md5(md5(password) . salt), salt from the user table's salt column (3 or 30 characters)",
         [("password", "k*7"), ("pässwörd", "".join(secrets.choice(ITOA64 + "!@#%^&*()") for _ in range(30)))]),
        ("ipb", ipb, "IPB 2+/MyBB 1.2+ md5(md5(salt) . md5(password)), salt from members_pass_salt / mybb_users.salt",
         [("пароль", "a:b;c"), ("Tr0ub4dor&3", "".join(secrets.choice(ITOA64) for _ in range(8)))]),
        ("smf", smf, "SMF 1.1+ sha1(strtolower(member_name) . password), salted by the user name",
         [("password", "Admin"), ("密码🔑", "jane.doe")]),
    ]:
        for pw, salt in cases:
            h = fn(enc(pw), salt.encode()) + ":" + salt
            add(f"{scheme}-hashlib-{slug(pw)}", scheme, h, pw, force=scheme,
                check=lambda x, fn=fn, salt=salt, h=h: fn(x, salt.encode()) == h.split(":", 1)[0],
                source=S_HASHLIB + f"; {what}; written as hashcat writes it, <hash>:<salt>")


CISCO_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def cisco64(b: bytes) -> str:
    """Cisco's base64 for type 8/9 secrets: standard base64 bit order over ./0-9A-Za-z, unpadded."""
    return base64.b64encode(b).decode().rstrip("=").translate(str.maketrans(CISCO_STD, ITOA64))


def cisco_check(h: str):
    _, typ, salt, chk = h.split("$")
    if typ == "8":
        return lambda x: cisco64(hashlib.pbkdf2_hmac("sha256", x, salt.encode(), 20000)) == chk
    return lambda x: cisco64(hashlib.scrypt(x, salt=salt.encode(), n=16384, r=1, p=1, dklen=32)) == chk


def gen_pbkdf2_dialects() -> None:
    """Cisco IOS type 8 (PBKDF2-SHA256) and 9 (scrypt), Cryptacular and dlitz $p5k2$."""
    for typ, scheme, h in [("8", "pbkdf2-sha256", "$8$TnGX/fE4KGHOVU$pEhnEvxrvaynpi8j4f.EMHr6M.FzU8xnZnBr/tJdFWk"),
                           ("9", "scrypt", "$9$2MJBozw/9R3UsU$2lFhcKvpghcyw8deP25GOfyZaagyUOGBymkryvOdfo6")]:
        mode = {"8": 9200, "9": 9300}[typ]
        add(f"cisco-type{typ}-published-hashcat-{mode}", scheme, h, "hashcat", wrong=["Hashcat", "hashcat1"],
            check=cisco_check(h),
            source=f"published: hashcat --example-hashes, mode {mode} (Cisco-IOS ${typ}$); re-verified with Python hashlib "
            + ("PBKDF2-HMAC-SHA256, 20000 iterations" if typ == "8" else "scrypt N=16384 r=1 p=1")
            + " over the 14-character salt as written, Cisco base64 (standard bit order over ./0-9A-Za-z)")
    # Cisco IOS type 5 secrets are MD5-crypt `$1$` (hashcat mode 500 covers both)
    h = "$1$28772684$iEwNOgGugqO9.bIz5sk8k/"
    add("cisco-type5-published-hashcat-500", "md5-crypt", h, "hashcat", wrong=["Hashcat", "hashcat1"],
        check=lambda x, h=h: xc_verify(x, h),
        source="published: hashcat --example-hashes, mode 500 (md5crypt, Cisco-IOS $1$ type 5); re-verified with " + S_XCRYPT)
    for typ, pw in [("8", "pässwörd"), ("8", "p@ss w0rd!"), ("9", "пароль"), ("9", "密码🔑")]:
        salt = "".join(secrets.choice(ITOA64) for _ in range(14))
        if typ == "8":
            raw = hashlib.pbkdf2_hmac("sha256", enc(pw), salt.encode(), 20000)
        else:
            raw = hashlib.scrypt(enc(pw), salt=salt.encode(), n=16384, r=1, p=1, dklen=32)
        h = f"${typ}${salt}${cisco64(raw)}"
        add(f"cisco-type{typ}-hashlib-{slug(pw)}", "pbkdf2-sha256" if typ == "8" else "scrypt", h, pw, check=cisco_check(h),
            source=S_HASHLIB + f"; Cisco IOS type {typ} secret ('enable algorithm-type "
            + ("sha256" if typ == "8" else "scrypt") + " secret') as hashcat documents it")
    for pw, rounds in [("password", 1000), ("密码🔑", 10000)]:
        h = ph.cta_pbkdf2_sha1.using(rounds=rounds).hash(pw)
        add(f"pbkdf2-sha1-cta-{slug(pw)}", "pbkdf2-sha1", h, pw, check=lambda x, h=h: ph.cta_pbkdf2_sha1.verify(x, h),
            source=S_PASSLIB + f" cta_pbkdf2_sha1 (Cryptacular's $p5k2$: hex rounds, URL-safe base64 salt and 20-byte checksum; rounds={rounds})")
    for pw, rounds in [("pässwörd", 400), ("пароль", 5000), ("", 400)]:
        h = ph.dlitz_pbkdf2_sha1.using(rounds=rounds).hash(pw)
        add(f"pbkdf2-sha1-dlitz-{rounds}-{slug(pw)}", "pbkdf2-sha1", h, pw, check=lambda x, h=h: ph.dlitz_pbkdf2_sha1.verify(x, h),
            source=S_PASSLIB + f" dlitz_pbkdf2_sha1 (the salt is the setting '$p5k2$<hex rounds>$<salt>', 400 rounds written "
            f"as an empty field; 24-byte checksum in adapted base64; rounds={rounds})")


def symfony_md(pw: bytes, salt: str, algo: str = "sha512", iterations: int = 5000) -> bytes:
    """Symfony's MessageDigestPasswordEncoder::encodePassword (symfony/security-core, 3.x to 5.x)."""
    salted = pw + (b"{" + salt.encode() + b"}" if salt else b"")
    d = hashlib.new(algo, salted).digest()
    for _ in range(1, iterations):
        d = hashlib.new(algo, d + salted).digest()
    return d


def gen_frameworks() -> None:
    # Devise with config.pepper: BCrypt::Password.create("#{password}#{pepper}")
    for pw, pepper in [("password", "0f2a8c5e1b9d4f7a6c3e0b8d2f5a9c1e"), ("pässwörd", "a pepper with spaces")]:
        h = bcrypt.hashpw(enc(pw) + pepper.encode(), bcrypt.gensalt(4, b"2a")).decode()
        add(f"bcrypt-pepper-devise-{slug(pw)}", "bcrypt-pepper", h, pw, force="bcrypt-pepper", options={"pepper": pepper},
            check=lambda x, h=h, pepper=pepper: bcrypt.checkpw(x + pepper.encode(), h.encode()),
            source=S_BCRYPT + "; Devise's bcrypt with config.pepper (devise/lib/devise/encryptor.rb: "
            "::BCrypt::Password.create(\"#{password}#{pepper}\")), the pepper given out of band")
    # Symfony legacy MessageDigestPasswordEncoder defaults: sha512, 5000 iterations, base64; salt in its own column
    for pw, salt in [("password", "6f3e0c1a9b2d"), ("пароль", "x" * 31), ("密码🔑", "")]:
        d = symfony_md(enc(pw), salt)
        h = b64(d) + ":" + salt
        add(f"symfony-sha512-hashlib-{slug(pw)}", "symfony-sha512", h, pw, force="symfony-sha512",
            check=lambda x, salt=salt, d=d: symfony_md(x, salt) == d,
            source=S_HASHLIB + "; Symfony MessageDigestPasswordEncoder('sha512', true, 5000) as in "
            "symfony/security-core Encoder/MessageDigestPasswordEncoder.php: salted = password . '{' . salt . '}' "
            "(the password alone for an empty salt), digest = sha512(salted), then 4999 times sha512(digest . salted), "
            "base64; written <hash>:<salt column>")
    # Werkzeug before 2.3: generate_password_hash(pw, method='sha256') = 'sha256$<salt>$' +
    # hmac.new(salt, password, 'sha256').hexdigest() (werkzeug/security.py _hash_internal)
    for algo, pw, force in [("sha256", "password", None), ("sha512", "пароль", None), ("sha1", "pässwörd", "hmac-sha1")]:
        salt = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(8))
        hx = hmac.new(salt.encode(), enc(pw), algo).hexdigest()
        add(f"hmac-{algo}-werkzeug-legacy-{slug(pw)}", f"hmac-{algo}", f"{algo}${salt}${hx}", pw, force=force,
            check=lambda x, salt=salt, algo=algo, hx=hx: hmac.new(salt.encode(), x, algo).hexdigest() == hx,
            source=S_HASHLIB + f"; Werkzeug before 2.3 generate_password_hash(method='{algo}'): '{algo}$<salt>$' + "
            "hmac.new(salt, password, method).hexdigest() (werkzeug/security.py _hash_internal)"
            + ("; forced, since Django's SHA1PasswordHasher wrote the same shape" if force else ""))
    # Spring Security Pbkdf2PasswordEncoder: hex(salt || PBKDF2(password, salt || secret)), empty secret
    for tag, algo, it, salt_len, pw in [("{pbkdf2}", "sha1", 185000, 8, "password"),
                                         ("{pbkdf2@SpringSecurity_v5_8}", "sha256", 310000, 16, "pässwörd")]:
        salt = os.urandom(salt_len)
        dk = hashlib.pbkdf2_hmac(algo, enc(pw), salt, it, 32)
        h = tag + (salt + dk).hex()
        add(f"pbkdf2-{algo}-spring-{slug(pw)}", f"pbkdf2-{algo}", h, pw,
            check=lambda x, algo=algo, salt=salt, it=it, dk=dk: hashlib.pbkdf2_hmac(algo, x, salt, it, 32) == dk,
            source=S_HASHLIB + f"; Spring Security Pbkdf2PasswordEncoder under DelegatingPasswordEncoder '{tag}': hex(salt || "
            f"PBKDF2WithHmac{algo.upper()}(password, salt || secret '', {it}, 256 bits)), {salt_len}-byte salt "
            + ("(Spring 5 defaults)" if algo == "sha1" else "(defaultsForSpringSecurity_v5_8)"))
    # Joomla 1.5-3 md5(password . salt) . ':' . salt, 32-character salt
    for pw in ["password", "pässwörd"]:
        salt = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
        h = hashlib.md5(enc(pw) + salt.encode()).hexdigest() + ":" + salt
        add(f"salted-md5-joomla-{slug(pw)}", "salted-md5", h, pw,
            check=lambda x, h=h, salt=salt: hashlib.md5(x + salt.encode()).hexdigest() == h[:32],
            source=S_HASHLIB + "; Joomla 1.5 to 3 JUserHelper::getCryptedPassword('md5-hex'): md5(password . salt) . ':' . salt "
            "with a 32-character alphanumeric salt")
    # Magento 1: md5(salt . password) . ':' . salt (2-character salt); Magento 2: sha256(salt . password):salt[:1]
    for pw in ["password", "пароль"]:
        salt = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(2))
        h = hashlib.md5(salt.encode() + enc(pw)).hexdigest() + ":" + salt
        add(f"salted-md5-magento1-{slug(pw)}", "salted-md5", h, pw,
            check=lambda x, h=h, salt=salt: hashlib.md5(salt.encode() + x).hexdigest() == h[:32],
            source=S_HASHLIB + "; Magento 1 Mage_Core_Model_Encryption::getHash($password, 2): md5(salt . password) . ':' . salt")
    for pw, version in [("password", ":1"), ("pässwörd", ":1"), ("密码🔑", "")]:
        salt = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
        h = hashlib.sha256(salt.encode() + enc(pw)).hexdigest() + ":" + salt + version
        add(f"salted-sha256-magento2-{'v1' if version else '2-0'}-{slug(pw)}", "salted-sha256", h, pw,
            check=lambda x, h=h, salt=salt: hashlib.sha256(salt.encode() + x).hexdigest() == h[:64],
            source=S_HASHLIB + "; Magento 2 Magento\\Framework\\Encryption\\Encryptor::getHash: hash('sha256', salt . password) "
            + (". ':' . salt . ':1' (HASH_VERSION_SHA256)" if version else ". ':' . salt (Magento 2.0, before the version suffix)"))
    # Magento 2.3+ Argon2id: sodium_crypto_pwhash(32, password, salt cut/padded to 16 bytes,
    # OPSLIMIT_INTERACTIVE = 2, MEMLIMIT_INTERACTIVE = 64 MiB, ARGON2ID13): libsodium's Argon2id
    # with one lane, recomputed here with the reference implementation through argon2-cffi.
    def magento_argon(x, salt, seed=32, ops=2, mem=67108864):
        s16 = (salt.encode() * 16)[:16]
        return a2.hash_secret_raw(x, s16, time_cost=ops, memory_cost=mem // 1024, parallelism=1, hash_len=seed,
                                  type=a2.Type.ID, version=19).hex()
    for pw, salt, version in [("password", "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32)), "2"),
                              ("пароль", "shortsalt", "3_32_2_67108864")]:
        h = magento_argon(enc(pw), salt) + ":" + salt + ":" + version
        add(f"argon2id-magento2-v{version[0]}-{slug(pw)}", "argon2id", h, pw,
            check=lambda x, h=h, salt=salt: magento_argon(x, salt) == h.split(":")[0],
            source=S_ARGON2 + " low_level.hash_secret_raw; Magento 2.3+ Encryptor::getArgonHash: "
            "bin2hex(sodium_crypto_pwhash(32, password, salt (first 16 bytes, or repeated to 16), opslimit 2, memlimit "
            "64 MiB, ARGON2ID13)) . ':' . salt . ':" + version + "' (libsodium's Argon2id runs one lane)"
            + ("; a salt shorter than 16 bytes is padded by repeating it (str_pad)" if len(salt) < 16 else ""))
    salt = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
    h = hashlib.md5(salt.encode() + b"Tr0ub4dor&3").hexdigest() + ":" + salt + ":0"
    add("salted-md5-magento2-v0", "salted-md5", h, "Tr0ub4dor&3",
        check=lambda x, h=h, salt=salt: hashlib.md5(salt.encode() + x).hexdigest() == h[:32],
        source=S_HASHLIB + "; Magento 2 Encryptor HASH_VERSION_MD5: md5(salt . password) . ':' . salt . ':0'")


OPENSSL_LEGACY_CNF = """openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
"""


def with_openssl_legacy(code: str, *args: str) -> str:
    """Runs `code` in a fresh Python whose OpenSSL loads its legacy provider (Whirlpool lives
    there), returning its stdout."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False) as f:
        f.write(OPENSSL_LEGACY_CNF)
    try:
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                             env={**os.environ, "OPENSSL_CONF": f.name})
        return out.stdout.strip()
    finally:
        os.unlink(f.name)


def pbkdf2_whirlpool(pw: bytes, salt: bytes, it: int, dklen: int) -> bytes:
    return bytes.fromhex(with_openssl_legacy(
        "import hashlib, sys; print(hashlib.pbkdf2_hmac('whirlpool', bytes.fromhex(sys.argv[1]), "
        "bytes.fromhex(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])).hex())",
        pw.hex(), salt.hex(), str(it), str(dklen)))


S_WHIRL = "Python hashlib.pbkdf2_hmac('whirlpool') on OpenSSL's legacy provider"


def gen_whirlpool() -> None:
    # The legacy provider's Whirlpool must give the ISO/NESSIE test vector for "abc" first.
    abc = with_openssl_legacy("import hashlib; print(hashlib.new('whirlpool', b'abc').hexdigest())")
    assert abc.startswith("4e2448a4c6f486bb16b6562c73b4020bf3043e3a731bce721ae1b303d97e6d4c"), abc
    for pw, it, dklen in [("password", 1000, 64), ("пароль", 10000, 32), ("密码🔑", 1, 64)]:
        salt = os.urandom(16)
        dk = pbkdf2_whirlpool(enc(pw), salt, it, dklen)
        h = f"$pbkdf2-whirlpool$i={it},l={dklen}${b64raw(salt)}${b64raw(dk)}"
        add(f"pbkdf2-whirlpool-phc-{it}-{slug(pw)}", "pbkdf2-whirlpool", h, pw,
            check=lambda x, salt=salt, it=it, dk=dk: pbkdf2_whirlpool(x, salt, it, len(dk)) == dk,
            source=S_WHIRL + " (the ISO/NESSIE 'abc' vector checked first); written as a PHC string "
            "$pbkdf2-whirlpool$i=,l=$<salt>$<hash> like Kratos' and Auth0's $pbkdf2-sha512$")
    salt = os.urandom(12)
    dk = pbkdf2_whirlpool("pässwörd".encode(), salt, 5000, 64)
    h = "$pbkdf2-whirlpool$5000$" + b64raw(salt).replace("+", ".") + "$" + b64raw(dk).replace("+", ".")
    add("pbkdf2-whirlpool-passlib-style", "pbkdf2-whirlpool", h, "pässwörd",
        check=lambda x, salt=salt, dk=dk: pbkdf2_whirlpool(x, salt, 5000, 64) == dk,
        source=S_WHIRL + "; written in passlib's $pbkdf2-<digest>$<rounds>$<ab64 salt>$<ab64 hash> layout")
    # Werkzeug computes any hashlib digest: generated by Werkzeug itself in the legacy-provider Python
    h = with_openssl_legacy(
        "import werkzeug.security as w; print(w.generate_password_hash('Tr0ub4dor&3', 'pbkdf2:whirlpool:20000'))")
    check_code = "import sys, werkzeug.security as w; print(w.check_password_hash(sys.argv[1], bytes.fromhex(sys.argv[2]).decode()))"
    add("pbkdf2-whirlpool-werkzeug", "pbkdf2-whirlpool", h, "Tr0ub4dor&3",
        check=lambda x, h=h: with_openssl_legacy(check_code, h, x.hex()) == "True",
        source=S_WERKZEUG + "('pbkdf2:whirlpool:20000'), run with OpenSSL's legacy provider loaded")


# ============================================================================================
# phpass / Drupal 7
# ============================================================================================
def phpass_encode64(data: bytes, count: int) -> str:
    """Drupal 7's _password_base64_encode(): each group of up to three bytes, read
    little-endian, gives one ITOA64 character per six bits it reaches (n bytes, n + 1 chars)."""
    out = []
    for i in range(0, count, 3):
        group = data[i:min(i + 3, count)]
        value = int.from_bytes(group, "little")
        out.extend(ITOA64[(value >> 6 * k) & 0x3F] for k in range(len(group) + 1))
    return "".join(out)


def drupal7_crypt(algo: str, password: bytes, setting: str) -> str | None:
    """Port of Drupal 7 includes/password.inc _password_crypt()."""
    if len(password) > 512:
        return None
    setting = setting[:12]
    if setting[0] != "$" or setting[2] != "$":
        return None
    count_log2 = ITOA64.find(setting[3])
    if count_log2 < 7 or count_log2 > 30:
        return None
    salt = setting[4:12]
    if len(salt) != 8:
        return None
    count = 1 << count_log2
    h = hashlib.new(algo, salt.encode() + password).digest()
    for _ in range(count):
        h = hashlib.new(algo, h + password).digest()
    out = setting + phpass_encode64(h, len(h))
    expected = 12 + -(-8 * len(h) // 6)
    return out[:55] if len(out) == expected else None


def drupal7_check(password: bytes, stored: str) -> bool:
    """Port of Drupal 7 user_check_password()."""
    if stored.startswith("U$"):
        stored = stored[1:]
        password = hashlib.md5(password).hexdigest().encode()
    t = stored[:3]
    if t == "$S$":
        h = drupal7_crypt("sha512", password, stored)
    elif t in ("$H$", "$P$"):
        h = drupal7_crypt("md5", password, stored)
    else:
        return False
    return h is not None and hmac.compare_digest(h, stored)


def gen_phpass() -> None:
    for ident, rounds, pw in [("P", 8, "password"), ("P", 13, "pässwörd"), ("H", 8, "пароль"), ("H", 11, "")]:
        h = ph.phpass.using(ident=ident, rounds=rounds).hash(pw)
        add(f"phpass-{ident.lower()}-{rounds}-{slug(pw)}", "phpass", h, pw, check=lambda x, h=h: ph.phpass.verify(x, h),
            source=S_PASSLIB + f" phpass.using(ident='{ident}', rounds={rounds})")
    for i, (h, pw) in enumerate([("$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0", "test12345"),
                                 ("$P$Buvd5FQxkeXJnDarN7..wRMwRKJeZ40", "!?!#?#?#$&@&@!&@"),
                                 ("$P$BVaXtDXwf/ceSVp8VpLKx8bS2Y4O5F/", "123456")]):
        add(f"phpass-published-fusionauth-{i + 1}", "phpass", h, pw, check=lambda x, h=h: ph.phpass.verify(x, h),
            source="published: FusionAuth fusionauth-example-password-encryptor ExamplePHPMD5SaltedPasswordEncryptorTest.java; "
            "re-verified with " + S_PASSLIB)
    # Drupal 7 $S$
    for pw, c in [("password", "A"), ("pässwörd", "7"), ("密码🔑", "9")]:
        salt = "".join(secrets.choice(ITOA64) for _ in range(8))
        h = drupal7_crypt("sha512", enc(pw), f"$S${c}{salt}")
        assert h and len(h) == 55
        add(f"drupal-sha512-{slug(pw)}-{ITOA64.index(c)}", "drupal-sha512", h, pw, check=lambda x, h=h: drupal7_check(x, h),
            source=S_HASHLIB + " (sha512); constructed per Drupal 7 includes/password.inc _password_crypt(): "
            "h=sha512(salt.pw); repeat 2^log2 times h=sha512(h.pw); '$S$'+log2 char+8-char salt + phpass-base64(h), truncated to 55 chars")
    h = "$S$C33783772bRXEx1aCsvY.dqgaaSu76XmVlKrW9Qu8IQlvxHlmzLf"
    add("drupal-sha512-published-hashcat", "drupal-sha512", h, "hashcat", wrong=["Hashcat", "hashcaT"],
        check=lambda x, h=h: drupal7_check(x, h),
        source="published: hashcat example_hashes (mode 7900 Drupal7); verified with the Drupal 7 _password_crypt port")
    inner = drupal7_crypt("sha512", hashlib.md5("pässwörd".encode()).hexdigest().encode(),
                          "$S$8" + "".join(secrets.choice(ITOA64) for _ in range(8)))
    h = "U" + inner
    add("drupal-sha512-u-prefixed-md5-upgrade", "drupal-sha512", h, "pässwörd", check=lambda x, h=h: drupal7_check(x, h),
        source=S_HASHLIB + "; Drupal 7 user_check_password(): a 'U$S$' hash is a $S$ hash of md5_hex(password) "
        "(created by update_7000 when migrating Drupal 6 md5 passwords)")


# ============================================================================================
# LDAP digests
# ============================================================================================
def ssha(name: str, p: bytes, salt: bytes) -> bytes:
    return hashlib.new(name, p + salt).digest() + salt


def ldap_salted_check(tagged: str, name: str):
    raw = base64.b64decode(tagged.split("}", 1)[1])
    n = hashlib.new(name).digest_size
    digest, salt = raw[:n], raw[n:]
    return lambda p: hashlib.new(name, p + salt).digest() == digest


def gen_ldap() -> None:
    for handler, scheme, pw in [(ph.ldap_sha1, "sha1", "password"), (ph.ldap_sha1, "sha1", "密码🔑"),
                                (ph.ldap_md5, "md5", "pässwörd")]:
        h = handler.hash(pw)
        add(f"{scheme}-ldap-{handler.name.split('_')[1]}-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
            source=S_PASSLIB + f" {handler.name}")
    for handler, scheme, pw, ss in [(ph.ldap_salted_sha1, "salted-sha1", "password", 4),
                                    (ph.ldap_salted_sha1, "salted-sha1", "пароль", 8),
                                    (ph.ldap_salted_md5, "salted-md5", "pässwörd", 4),
                                    (ph.ldap_salted_md5, "salted-md5", "密码🔑", 8),
                                    (ph.ldap_salted_sha256, "salted-sha256", "pässwörd", 16),
                                    (ph.ldap_salted_sha512, "salted-sha512", "correct horse battery staple", 16)]:
        h = handler.using(salt_size=ss).hash(pw)
        extra = " (8-byte salt, 389-DS style)" if handler is ph.ldap_salted_sha1 and ss == 8 else ""
        add(f"{scheme}-ldap-salt{ss}-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
            source=S_PASSLIB + f" {handler.name}.using(salt_size={ss}){extra}")
    # {SSHA384} (no passlib handler)
    for pw, ss in [("password", 8), ("密码🔑", 4)]:
        salt = os.urandom(ss)
        h = "{SSHA384}" + b64(ssha("sha384", enc(pw), salt))
        add(f"salted-sha384-ldap-salt{ss}-{slug(pw)}", "salted-sha384", h, pw, check=ldap_salted_check(h, "sha384"),
            source=S_HASHLIB + "; RFC 2307-style {SSHA384} = base64(SHA-384(pw || salt) || salt) as OpenLDAP contrib pw-sha2 writes it")
    # lower-case tags
    h = ph.ldap_salted_sha1.hash("pässwörd")
    low = "{ssha}" + h.split("}", 1)[1]
    add("salted-sha1-ldap-lowercase-tag", "salted-sha1", low, "pässwörd", check=ldap_salted_check(low, "sha1"),
        source=S_PASSLIB + " ldap_salted_sha1 output with the tag lower-cased to '{ssha}' (scheme tags are case-insensitive in OpenLDAP); re-verified with hashlib")
    h = ph.ldap_sha1.hash("password")
    low = "{sha}" + h.split("}", 1)[1]
    add("sha1-ldap-lowercase-tag", "sha1", low, "password",
        check=lambda x, d=base64.b64decode(low[5:]): hashlib.sha1(x).digest() == d,
        source=S_PASSLIB + " ldap_sha1 output with the tag lower-cased to '{sha}'; re-verified with hashlib")
    salt = os.urandom(8)
    h = "{ssha512}" + b64(ssha("sha512", "пароль".encode(), salt))
    add("salted-sha512-ldap-lowercase-tag", "salted-sha512", h, "пароль", check=ldap_salted_check(h, "sha512"),
        source=S_HASHLIB + "; {SSHA512} with a lower-case tag")
    # Kratos published {SSHA*}
    for vid, h, scheme, name in [
        ("salted-sha1-published-kratos-ssha", "{SSHA}JFZFs0oHzxbMwkSJmYVeI8MnTDy/276a", "salted-sha1", "sha1"),
        ("salted-sha256-published-kratos-ssha256", "{SSHA256}czO44OTV17PcF1cRxWrLZLy9xHd7CWyVYplr1rOhuMlx/7IK", "salted-sha256", "sha256"),
        ("salted-sha512-published-kratos-ssha512", "{SSHA512}xPUl/px+1cG55rUH4rzcwxdOIPSB2TingLpiJJumN2xyDWN4Ix1WQG3ihnvHaWUE8MYNkvMi5rf0C9NYixHsE6Yh59M=", "salted-sha512", "sha512"),
    ]:
        add(vid, scheme, h, "test123", wrong=["badtest", "test124"], check=ldap_salted_check(h, name),
            source="published: github.com/ory/kratos hash/hasher_test.go (TestCompare/SSHA)")


# ============================================================================================
# Plain / salted digests, Kratos $md5$/$shaN$/$hmac-*$, Django, MySQL, NT, Spring
# ============================================================================================
def gen_digests() -> None:
    for handler, scheme, pws in [(ph.hex_md5, "md5", ["password", "pässwörd", ""]), (ph.hex_sha1, "sha1", ["пароль", "a"]),
                                 (ph.hex_sha256, "sha256", ["password", "密码🔑"]), (ph.hex_sha512, "sha512", ["pässwörd", "p@ss w0rd!"])]:
        for pw in pws:
            h = handler.hash(pw)
            add(f"{scheme}-hex-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
                source=S_PASSLIB + f" {handler.name}")
    for pw in ["password", "пароль"]:
        h = hashlib.sha384(enc(pw)).hexdigest()
        add(f"sha384-hex-{slug(pw)}", "sha384", h, pw, check=lambda x, h=h: hashlib.sha384(x).hexdigest() == h,
            source=S_HASHLIB + " (lower-case hex SHA-384)")
    for handler, scheme, pw in [(ph.hex_md5, "md5", "Tr0ub4dor&3"), (ph.hex_sha1, "sha1", "pässwörd")]:
        h = handler.hash(pw).upper()
        add(f"{scheme}-hex-uppercase-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
            source=S_PASSLIB + f" {handler.name} output upper-cased (hex digests are case-insensitive)")
    # MD4 / NT hash (32 hex == md5 length -> force)
    for pw in ["пароль"]:
        h = ph.hex_md4.hash(pw)
        add(f"md4-hex-{slug(pw)}", "md4", h, pw, force="md4", check=lambda x, h=h: ph.hex_md4.verify(x, h),
            source=S_PASSLIB + " hex_md4 (MD4 of the UTF-8 bytes)")
    for pw, up in [("password", False), ("pässwörd", False), ("密码🔑", True)]:
        h = ph.nthash.hash(pw)
        h = h.upper() if up else h
        add(f"nthash-{slug(pw)}{'-uppercase' if up else ''}", "nthash", h, pw, force="nthash",
            check=lambda x, h=h: ph.nthash.verify(x, h),
            source=S_PASSLIB + " nthash (MD4 of UTF-16LE)" + (", upper-cased as pwdump writes it" if up else ""))
    # MySQL 4.1
    for pw in ["password", "密码🔑"]:
        h = ph.mysql41.hash(pw)
        add(f"mysql41-{slug(pw)}", "mysql41", h, pw, check=lambda x, h=h: ph.mysql41.verify(x, h), source=S_PASSLIB + " mysql41")
    # Django salted md5/sha1 (passlib django_salted_*), Django 5 MD5PasswordHasher, unsalted md5$$
    for handler, scheme, pw in [(ph.django_salted_md5, "salted-md5", "пароль"), (ph.django_salted_sha1, "salted-sha1", "密码🔑")]:
        h = handler.hash(pw)
        add(f"{scheme}-django-passlib-{slug(pw)}", scheme, h, pw, check=lambda x, h=h, handler=handler: handler.verify(x, h),
            source=S_PASSLIB + f" {handler.name} (Django 'algo$salt$hex(algo(salt+password))')")
    h = dj_make("Tr0ub4dor&3", hasher="md5")
    add("salted-md5-django-md5passwordhasher", "salted-md5", h, "Tr0ub4dor&3", check=lambda x, h=h: dj_check(x.decode(), h),
        source=S_DJANGO + " MD5PasswordHasher")
    for pw in ["pässwörd"]:
        hx = hashlib.md5(enc(pw)).hexdigest()
        h = "md5$$" + hx
        add(f"md5-django-unsalted-{slug(pw)}", "md5", h, pw,
            check=lambda x, hx=hx: ph.hex_md5.verify(x, hx),
            source=S_HASHLIB + "; Django UnsaltedMD5PasswordHasher's 'md5$$<hex>' form (that hasher was removed in Django 5.1, "
            "so " + S_DJANGO + " cannot make it; checked with " + S_PASSLIB + " hex_md5)")
    h = ph.django_salted_sha1.using(salt_size=12).hash("a")
    add("salted-sha1-django-passlib-short", "salted-sha1", h, "a", check=lambda x, h=h: ph.django_salted_sha1.verify(x, h),
        source=S_PASSLIB + " django_salted_sha1")

    # Kratos $md5$ and $shaN$pf=
    for pw in ["密码🔑"]:
        d = hashlib.md5(enc(pw)).digest()
        h = "$md5$" + b64(d)
        add(f"md5-kratos-{slug(pw)}", "md5", h, pw, check=lambda x, d=d: hashlib.md5(x).digest() == d,
            source=S_HASHLIB + "; Kratos '$md5$<std b64 md5>' per ory/kratos hash/hash_comparator.go decodeMD5Hash")

    def pf_hash(algo: str, tmpl: str, salt: bytes, p: bytes) -> bytes:
        raw = tmpl.encode().replace(b"{SALT}", salt).replace(b"{PASSWORD}", p)
        return hashlib.new(algo, raw).digest()

    for algo, scheme, tmpl, pw in [("md5", "salted-md5", "{SALT}{PASSWORD}", "pässwörd"),
                                   ("md5", "salted-md5", "{PASSWORD}{SALT}", "пароль"),
                                   ("sha1", "salted-sha1", "{SALT}{PASSWORD}", "password"),
                                   ("sha1", "salted-sha1", "{PASSWORD}{SALT}", "密码🔑"),
                                   ("sha256", "salted-sha256", "{SALT}{PASSWORD}", "pässwörd"),
                                   ("sha512", "salted-sha512", "{PASSWORD}{SALT}", "пароль"),
                                   ("sha512", "salted-sha512", "{SALT}{PASSWORD}", "密码🔑")]:
        salt = secrets.token_hex(6).encode()
        d = pf_hash(algo, tmpl, salt, enc(pw))
        h = f"${algo}$pf={b64(tmpl.encode())}${b64(salt)}${b64(d)}"
        order = "salt-first" if tmpl.startswith("{SALT}") else "password-first"
        add(f"{scheme}-kratos-pf-{order}-{slug(pw)}", scheme, h, pw,
            check=lambda x, algo=algo, tmpl=tmpl, salt=salt, d=d: pf_hash(algo, tmpl, salt, x) == d,
            source=S_HASHLIB + f"; Kratos '${algo}$pf=<b64 template>$<b64 salt>$<b64 hash>' with template {tmpl} per ory/kratos "
            "hash/hash_comparator.go (CompareSHA/CompareMD5: strings.Replacer on the template)")
    K = "published: github.com/ory/kratos hash/hasher_test.go (TestCompare)"
    for vid, h, scheme, pw, wrong in [
        ("md5-published-kratos-test", "$md5$CY9rzUYh03PK3k6DJie09g==", "md5", "test", ["Test"]),
        ("md5-published-kratos-ory", "$md5$ptoWyof5SobW+pbZu2QXoQ==", "md5", "ory", ["Ory"]),
        ("salted-md5-published-kratos-salt-first", "$md5$pf=e1NBTFR9e1BBU1NXT1JEfQ==$MTIz$q+RdKCgc+ipCAcm5ChQwlQ==", "salted-md5", "test", ["test1"]),
        ("salted-md5-published-kratos-dollar-template", "$md5$pf=e1NBTFR9JCR7UEFTU1dPUkR9$MTIzNA==$ud392Z8rfZ+Ou7ZFXYLKbA==", "salted-md5", "test", ["test1"]),
        ("salted-md5-published-kratos-password-first", "$md5$pf=e1BBU1NXT1JEfXtTQUxUfSQ/$MTIzNDU2Nzg5$8PhwWanVRnpJAFK4NUjR0w==", "salted-md5", "ory", ["ory1"]),
        ("salted-sha1-published-kratos", "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", "salted-sha1", "test", ["tset", "wrongpass"]),
        ("salted-sha1-published-kratos-static-prefix", "$sha1$pf=Pz9zdGF0aWNQcmVmaXg/P3tTQUxUfXtQQVNTV09SRH0=$NW9wbWtnejAzcg==$SAAxMUn7jxckQXkBmsVF0nHwqso=", "salted-sha1", "test", ["Test"]),
        ("salted-sha256-published-kratos", "$sha256$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$0gfRVLCvtBCk20udLDEY5vNhujWx7RGjwRIS1ebMsLY=", "salted-sha256", "test", ["wrongpass"]),
        ("salted-sha512-published-kratos", "$sha512$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$6ctpVuApMNp0CgBXcdHw/GC562eFEFGr4gpgANX8ZYsX+j5B19IkdmOY2Fytsz3QUwSWdGcUjbqwgJGTH0UYvw==", "salted-sha512", "test", ["wrongpass"]),
    ]:
        parts = h.split("$")
        algo = parts[1]
        if len(parts) == 3:
            d = base64.b64decode(parts[2])
            chk = (lambda x, algo=algo, d=d: hashlib.new(algo, x).digest() == d)
        else:
            tmpl = base64.b64decode(parts[2][3:]).decode()
            salt, d = base64.b64decode(parts[3]), base64.b64decode(parts[4])
            chk = (lambda x, algo=algo, tmpl=tmpl, salt=salt, d=d: pf_hash(algo, tmpl, salt, x) == d)
        add(vid, scheme, h, pw, wrong=wrong, check=chk, source=K)

    # Kratos $hmac-<alg>$<b64(hex(hmac))>$<b64 key>
    def kratos_hmac(algo, key, p):
        return hmac.new(key, p, algo).hexdigest().encode()

    for algo, pw in [("md5", "pässwörd"), ("sha1", "пароль"), ("sha256", "密码🔑"), ("sha384", "password"), ("sha512", "pässwörd")]:
        key = secrets.token_bytes(16)
        hx = kratos_hmac(algo, key, enc(pw))
        h = f"$hmac-{algo}${b64(hx)}${b64(key)}"
        add(f"hmac-{algo}-kratos-{slug(pw)}", f"hmac-{algo}", h, pw,
            check=lambda x, algo=algo, key=key, hx=hx: kratos_hmac(algo, key, x) == hx,
            source=S_HASHLIB + f"; Kratos '$hmac-{algo}$<std b64 of the LOWER-CASE HEX HMAC string>$<std b64 key>' per ory/kratos "
            "hash/hash_comparator.go CompareHMAC (hex.EncodeToString(mac.Sum(nil)) is compared with the decoded field)")
    for algo, h in [
        ("md5", "$hmac-md5$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=$MTIzNDU="),
        ("sha1", "$hmac-sha1$NDMyNjcxZTUyY2Y2YTBmYjZjZDE2NjQxYjAwNjFiZjAwOGEzNWM5MA==$MTIzNDU="),
        ("sha256", "$hmac-sha256$ZTAzMWJhMWMyOTM4YjFkMjgzZjkxOWExZGY5YWM2NmMxOTJhN2RkNzQ0MzJkNWZkNGFkYTI5OTk0MWJhMTA5Zg==$MTIzNDU="),
        ("sha384", "$hmac-sha384$ZWEyMGM3NGE4Y2UzMTljNTdjZTlhZGQyYTZjNDE0MGQ4YjMwYWIwOWM4OTRiNWQ4MmZjODlhMzBhMmQzNGE5NmQ0NDY1NWRhYjQ2ZjhiYjBkNTRmYjk5YWZkZTA1MGY1$MTIzNDU="),
        ("sha512", "$hmac-sha512$OTFmODY0ZTI1NmU0ZjVhYjhiMDViZGFmNGVmNGZmMGVlNTY4ODYwNWJhYTk4MTk2OTgyMzc3NzI1YTc4MzcxMTMzNzZmY2YxYTk5MGMxM2RiZDk2MGFmMmQ1YzRmODdlMGMwYTNkYjcyNjY0NjM4NGE4YzQ2MjNhZDZkN2UxZTE=$MTIzNDU="),
    ]:
        parts = h.split("$")
        hx, key = base64.b64decode(parts[2]), base64.b64decode(parts[3])
        add(f"hmac-{algo}-published-kratos", f"hmac-{algo}", h, "test", wrong=["ory", "Test"],
            check=lambda x, algo=algo, key=key, hx=hx: kratos_hmac(algo, key, x) == hx, source=K + "; key is '12345'")

    # Spring Security DelegatingPasswordEncoder forms
    for pw in ["pässwörd"]:
        salt = "{" + b64(os.urandom(16)) + "}"
        hx = hashlib.sha256((pw + salt).encode()).hexdigest()
        h = "{SHA-256}" + salt + hx
        add(f"salted-sha256-spring-{slug(pw)}", "salted-sha256", h, pw,
            check=lambda x, salt=salt, hx=hx: hashlib.sha256(x + salt.encode()).hexdigest() == hx,
            source=S_HASHLIB + "; Spring Security MessageDigestPasswordEncoder('SHA-256') under DelegatingPasswordEncoder: "
            "'{SHA-256}' + '{salt}' + hex(sha256(password + '{salt}')) - the salt INCLUDING its braces is appended to the password")
    for pw in ["пароль"]:
        hx = hashlib.md5(enc(pw)).hexdigest()
        h = "{MD5}" + hx
        add(f"md5-spring-hex-{slug(pw)}", "md5", h, pw, check=lambda x, hx=hx: hashlib.md5(x).hexdigest() == hx,
            source=S_HASHLIB + "; Spring Security '{MD5}' + hex(md5(password)) (MessageDigestPasswordEncoder with no '{salt}'). "
            "NOTE: LDAP '{MD5}' is base64 (24 chars), Spring '{MD5}' is 32 hex chars")
    # plaintext
    for vid, h, pw, src in [("plaintext-spring-noop-ascii", "{noop}password", "password", "Spring Security NoOpPasswordEncoder under DelegatingPasswordEncoder"),
                            ("plaintext-spring-noop-unicode", "{noop}pässwörd 密码", "pässwörd 密码", "Spring Security NoOpPasswordEncoder (Unicode)"),
                            ("plaintext-cleartext-ascii", "{CLEARTEXT}secret123", "secret123", "389-DS '{CLEARTEXT}' storage scheme"),
                            ("plaintext-cleartext-cyrillic", "{CLEARTEXT}пароль", "пароль", "389-DS '{CLEARTEXT}' storage scheme with Unicode")]:
        plain = h.split("}", 1)[1]
        add(vid, "plaintext", h, pw, check=lambda x, plain=plain: x == plain.encode(), source=S_HASHLIB + "; " + src)

    # published Auth0 example MD5('salt' + 'password') (upper-case hex) -> salted-md5 JSON
    h = json.dumps({"algorithm": "md5", "hash": {"value": "67A1E09BB1F83F5007DC119C14D663AA", "encoding": "hex"},
                    "salt": {"value": "salt", "encoding": "utf8", "position": "prefix"}}, separators=(",", ":"))
    add("salted-md5-published-auth0-json", "salted-md5", h, "password", wrong=["Password", "salt"],
        check=lambda x: hashlib.md5(b"salt" + x).hexdigest().upper() == "67A1E09BB1F83F5007DC119C14D663AA",
        source="published: Auth0 'Bulk User Import Database Schema and Examples' (salt.position description: "
        "MD5('salt' + 'password') = '67A1E09BB1F83F5007DC119C14D663AA'; upper-case hex is explicitly allowed)")


# ============================================================================================
# JSON descriptors: Auth0 custom_password_hash, FusionAuth, Keycloak
# ============================================================================================
def j(o) -> str:
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


AUTH0 = ("Auth0 custom_password_hash object per Auth0 docs 'Bulk User Import Database Schema and Examples' "
         "(auth0.com/docs/manage-users/user-migration/bulk-user-import-database-schema-and-examples)")


def gen_auth0() -> None:
    for pw, pos in [("password", "prefix"), ("pässwörd", "suffix")]:
        salt = secrets.token_hex(4)
        data = (salt + pw) if pos == "prefix" else (pw + salt)
        hx = hashlib.sha256(data.encode()).hexdigest()
        h = j({"algorithm": "sha256", "hash": {"value": hx, "encoding": "hex"}, "salt": {"value": salt, "encoding": "utf8", "position": pos}})
        add(f"salted-sha256-auth0-{pos}-{slug(pw)}", "salted-sha256", h, pw,
            check=lambda x, salt=salt, pos=pos, hx=hx: hashlib.sha256((salt.encode() + x) if pos == "prefix" else (x + salt.encode())).hexdigest() == hx,
            source=S_HASHLIB + "; " + AUTH0 + f": sha256 with salt position '{pos}'")
    salt = os.urandom(8)
    d = hashlib.sha512(salt + "пароль".encode()).digest()
    h = j({"algorithm": "sha512", "hash": {"value": b64(d), "encoding": "base64"}, "salt": {"value": salt.hex(), "encoding": "hex", "position": "prefix"}})
    add("salted-sha512-auth0-hex-salt", "salted-sha512", h, "пароль", check=lambda x, salt=salt, d=d: hashlib.sha512(salt + x).digest() == d,
        source=S_HASHLIB + "; " + AUTH0 + ": sha512, base64 hash, hex-encoded salt, prefix")
    for pw in ["密码🔑"]:
        d = hashlib.md5(enc(pw)).digest()
        h = j({"algorithm": "md5", "hash": {"value": b64(d), "encoding": "base64"}})
        add(f"md5-auth0-base64-{slug(pw)}", "md5", h, pw, check=lambda x, d=d: hashlib.md5(x).digest() == d,
            source=S_HASHLIB + "; " + AUTH0 + ": unsalted md5, base64")
    d = hashlib.sha1("pässwörd".encode()).hexdigest()
    h = j({"algorithm": "sha1", "hash": {"value": d, "encoding": "hex"}})
    add("sha1-auth0-hex", "sha1", h, "pässwörd", check=lambda x, d=d: hashlib.sha1(x).hexdigest() == d,
        source=S_HASHLIB + "; " + AUTH0 + ": unsalted sha1, hex")
    for algo, pw, kenc in [("sha256", "password", "utf8"), ("sha1", "пароль", "hex"), ("sha512", "密码🔑", "base64")]:
        key = "secret-key" if kenc == "utf8" else None
        kb = key.encode() if key else os.urandom(12)
        kval = key if kenc == "utf8" else (kb.hex() if kenc == "hex" else b64(kb))
        mac = hmac.new(kb, enc(pw), algo).digest()
        h = j({"algorithm": "hmac", "hash": {"value": b64(mac), "encoding": "base64", "digest": algo, "key": {"value": kval, "encoding": kenc}}})
        add(f"hmac-{algo}-auth0-key-{kenc}-{slug(pw)}", f"hmac-{algo}", h, pw,
            check=lambda x, kb=kb, algo=algo, mac=mac: hmac.new(kb, x, algo).digest() == mac,
            source=S_HASHLIB + "; " + AUTH0 + f": hmac = HMAC-{algo.upper()}(key, password), hash base64 of the raw MAC, key encoding {kenc}")
    # pbkdf2 PHC
    salt = os.urandom(16)
    dk = pbkdf2("sha512", "pässwörd".encode(), salt, 10000, 64)
    inner = f"$pbkdf2-sha512$i=10000,l=64${b64raw(salt)}${b64raw(dk)}"
    h = j({"algorithm": "pbkdf2", "hash": {"value": inner, "encoding": "utf8"}})
    add("pbkdf2-sha512-auth0-phc", "pbkdf2-sha512", h, "pässwörd", check=lambda x, salt=salt, dk=dk: pbkdf2("sha512", x, salt, 10000, 64) == dk,
        source=S_HASHLIB + "; " + AUTH0 + ": pbkdf2, hash.value in PHC format with B64 (no padding) salt/hash")
    salt = os.urandom(16)
    dk = pbkdf2("sha256", b"password", salt, 1000, 32)
    inner = f"$pbkdf2-sha256$i=1000,l=32${b64raw(salt)}${b64raw(dk)}"
    h = j({"algorithm": "pbkdf2", "hash": {"value": inner, "encoding": "utf8"}})
    add("pbkdf2-sha256-auth0-phc", "pbkdf2-sha256", h, "password", check=lambda x, salt=salt, dk=dk: pbkdf2("sha256", x, salt, 1000, 32) == dk,
        source=S_HASHLIB + "; " + AUTH0 + ": pbkdf2 PHC")
    # bcrypt, argon2, ldap
    inner = bcrypt.hashpw("пароль".encode(), bcrypt.gensalt(4, b"2b")).decode()
    h = j({"algorithm": "bcrypt", "hash": {"value": inner, "encoding": "utf8"}})
    add("bcrypt-auth0-json", "bcrypt", h, "пароль", check=lambda x, inner=inner: bcrypt.checkpw(x, inner.encode()),
        source=S_BCRYPT + "; " + AUTH0 + ": bcrypt")
    inner = argon2.PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash("密码🔑")
    h = j({"algorithm": "argon2", "hash": {"value": inner, "encoding": "utf8"}})
    add("argon2id-auth0-json", "argon2id", h, "密码🔑", check=a2verify(inner, "argon2id"), source=S_ARGON2 + "; " + AUTH0 + ": argon2")
    salt = os.urandom(8)
    inner = "{SSHA384}" + b64(ssha("sha384", "pässwörd".encode(), salt))
    h = j({"algorithm": "ldap", "hash": {"value": inner, "encoding": "utf8"}})
    add("salted-sha384-auth0-ldap", "salted-sha384", h, "pässwörd", check=ldap_salted_check(inner, "sha384"),
        source=S_HASHLIB + "; " + AUTH0 + ": ldap with an RFC 2307 {SSHA384} value")
    inner = ph.ldap_salted_sha1.hash("password")
    h = j({"algorithm": "ldap", "hash": {"value": inner, "encoding": "utf8"}})
    add("salted-sha1-auth0-ldap", "salted-sha1", h, "password", check=lambda x, inner=inner: ph.ldap_salted_sha1.verify(x, inner),
        source=S_PASSLIB + " ldap_salted_sha1; " + AUTH0 + ": ldap")
    # scrypt
    for pw, n, r, p, kl in [("password", 1024, 8, 1, 64), ("пароль", 2048, 8, 1, 32)]:
        salt = os.urandom(16)
        dk = scrypt_raw(enc(pw), salt, n, r, p, kl)
        h = j({"algorithm": "scrypt", "hash": {"value": b64(dk), "encoding": "base64"}, "salt": {"value": b64(salt), "encoding": "base64"},
               "keylen": kl, "cost": n, "blockSize": r, "parallelization": p})
        add(f"scrypt-auth0-json-{slug(pw)}", "scrypt", h, pw, check=lambda x, salt=salt, n=n, r=r, p=p, dk=dk: scrypt_raw(x, salt, n, r, p, len(dk)) == dk,
            source=S_HASHLIB + " (hashlib.scrypt); " + AUTH0 + ": scrypt with keylen/cost(N)/blockSize(r)/parallelization(p) at the top "
            "level of custom_password_hash and the salt as the scrypt salt (field names as in the task brief; not re-confirmed "
            "against the current Auth0 schema, see report)")
    # md4 of utf16le (== NT hash semantics) and md4 of utf8
    d = bytes.fromhex(ph.nthash.hash("pässwörd"))  # passlib's own MD4 (OpenSSL 3 may lack md4)
    h = j({"algorithm": "md4", "hash": {"value": b64(d), "encoding": "base64"}, "password": {"encoding": "utf16le"}})
    add("md4-auth0-utf16le", "nthash", h, "pässwörd", check=lambda x, d=d: bytes.fromhex(ph.nthash.hash(x.decode())) == d,
        source=S_PASSLIB + " nthash (MD4 of UTF-16LE); " + AUTH0 + ": md4 with password.encoding utf16le")
    hx = ph.hex_md4.hash("password")
    h = j({"algorithm": "md4", "hash": {"value": hx, "encoding": "hex"}})
    add("md4-auth0-utf8-hex", "md4", h, "password", check=lambda x, hx=hx: ph.hex_md4.verify(x, hx),
        source=S_PASSLIB + " hex_md4; " + AUTH0 + ": md4, default utf8 password encoding")


FUSION = ("FusionAuth user import fields (encryptionScheme/factor/salt/password) per FusionAuth docs 'Password Hashing "
          "Algorithms' (fusionauth.io/docs/reference/password-hashes, FusionAuth/fusionauth-site password-hashes.mdx)")


def gen_fusionauth() -> None:
    def salted(algo, p, salt, factor):
        r = p + salt
        for _ in range(factor):
            r = hashlib.new(algo, r).digest()
        return r

    for scheme_fa, algo, scheme, pw, factor in [("salted-sha256", "sha256", "salted-sha256", "password", 1),
                                                ("salted-md5", "md5", "salted-md5", "密码🔑", 3)]:
        salt = os.urandom(16)
        d = salted(algo, enc(pw), salt, factor)
        h = j({"encryptionScheme": scheme_fa, "factor": factor, "salt": b64(salt), "password": b64(d)})
        add(f"{scheme}-fusionauth-factor{factor}-{slug(pw)}", scheme, h, pw,
            check=lambda x, algo=algo, salt=salt, factor=factor, d=d: salted(algo, x, salt, factor) == d,
            source=S_HASHLIB + "; " + FUSION + f": r = password || base64dec(salt); repeat factor({factor}) times r = {algo}(r); password = base64(r)")
    for pw in ["пароль"]:
        salt = os.urandom(32)
        mac = hmac.new(salt, enc(pw), hashlib.sha256).digest()
        h = j({"encryptionScheme": "salted-hmac-sha256", "factor": 1, "salt": b64(salt), "password": b64(mac)})
        add(f"hmac-sha256-fusionauth-{slug(pw)}", "hmac-sha256", h, pw, check=lambda x, salt=salt, mac=mac: hmac.new(salt, x, hashlib.sha256).digest() == mac,
            source=S_HASHLIB + "; " + FUSION + ": salted-hmac-sha256 = HMAC-SHA256(key = base64dec(salt), password); factor unused")
    for fa, d, kl, scheme, pw, it in [("salted-pbkdf2-hmac-sha256", "sha256", 32, "pbkdf2-sha256", "pässwörd", 10000),
                                      ("salted-pbkdf2-hmac-sha256-512", "sha256", 64, "pbkdf2-sha256", "密码🔑", 5000),
                                      ("salted-pbkdf2-hmac-sha512-512", "sha512", 64, "pbkdf2-sha512", "пароль", 5000)]:
        salt = os.urandom(32)
        dk = pbkdf2(d, enc(pw), salt, it, kl)
        h = j({"encryptionScheme": fa, "factor": it, "salt": b64(salt), "password": b64(dk)})
        add(f"{scheme}-fusionauth-{fa.replace('salted-pbkdf2-hmac-', '')}-{slug(pw)}", scheme, h, pw,
            check=lambda x, d=d, salt=salt, it=it, dk=dk: pbkdf2(d, x, salt, it, len(dk)) == dk,
            source=S_HASHLIB + "; " + FUSION + f": {fa} = PBKDF2-HMAC-{d.upper()}(password, base64dec(salt), factor iterations, {kl * 8}-bit key), base64")
    for pw, cost in [("pässwörd", 4)]:
        full = bcrypt.hashpw(enc(pw), bcrypt.gensalt(cost, b"2a")).decode()
        h = j({"encryptionScheme": "bcrypt", "factor": cost, "salt": full[7:29], "password": full[29:]})
        add(f"bcrypt-fusionauth-{slug(pw)}", "bcrypt", h, pw, check=lambda x, full=full: bcrypt.checkpw(x, full.encode()),
            source=S_BCRYPT + "; " + FUSION + ": bcrypt split as factor = cost, salt = the 22 bcrypt-base64 salt chars, "
            f"password = the 31 checksum chars (from {full[:4]} hash; FusionAuth does not store the $2?$ revision)")
    for pw, rounds in [("password", 13)]:
        full = ph.phpass.using(rounds=rounds).hash(pw)
        h = j({"encryptionScheme": "phpass-md5", "factor": 1 << rounds, "salt": full[4:12], "password": full[12:]})
        add(f"phpass-fusionauth-{slug(pw)}", "phpass", h, pw, check=lambda x, full=full: ph.phpass.verify(x, full),
            source=S_PASSLIB + " phpass; " + FUSION + ": phpass-md5 split the way FusionAuth's ExamplePHPMD5SaltedPasswordEncryptorTest "
            "does: factor = 1 << itoa64.index(hash[3]) (iteration COUNT, not log2), salt = hash[4:12] (8 chars used as-is), "
            "password = hash[12:] (22 phpass-base64 chars)")


KEYCLOAK = ("Keycloak credential representation as in a realm export (secretData/credentialData are JSON strings), per "
            "keycloak Pbkdf2PasswordHashProvider (DEFAULT_DERIVED_KEY_SIZE = 512 bits) / Argon2PasswordHashProvider(Factory)")


def gen_keycloak() -> None:
    for algo, d, it, pw in [("pbkdf2-sha256", "sha256", 27500, "密码🔑"),
                            ("pbkdf2", "sha1", 20000, "pässwörd"), ("pbkdf2-sha512", "sha512", 30000, "пароль")]:
        salt = os.urandom(16)
        dk = pbkdf2(d, enc(pw), salt, it, 64)
        h = j({"type": "password",
               "secretData": j({"value": b64(dk), "salt": b64(salt), "additionalParameters": {}}),
               "credentialData": j({"hashIterations": it, "algorithm": algo, "additionalParameters": {}})})
        scheme = {"pbkdf2": "pbkdf2-sha1"}.get(algo, algo)
        add(f"{scheme}-keycloak-{it}-{slug(pw)}", scheme, h, pw, check=lambda x, d=d, salt=salt, it=it, dk=dk: pbkdf2(d, x, salt, it, 64) == dk,
            source=S_HASHLIB + "; " + KEYCLOAK + f": algorithm '{algo}' = PBKDF2-HMAC-{d.upper()}(utf8(pw), salt, hashIterations, 64 bytes)")
    for t, ver, m, tc, p, hl, pw in [("id", "1.3", 7168, 3, 1, 32, "password"), ("id", "1.3", 7168, 2, 1, 32, "pässwörd"),
                                     ("i", "1.3", 4096, 2, 2, 32, "пароль"), ("d", "1.3", 2048, 2, 1, 64, "密码🔑")]:
        salt = os.urandom(16)
        raw = a2.hash_secret_raw(enc(pw), salt, time_cost=tc, memory_cost=m, parallelism=p, hash_len=hl,
                                 type={"id": a2.Type.ID, "i": a2.Type.I, "d": a2.Type.D}[t], version=19)
        h = j({"type": "password",
               "secretData": j({"value": b64(raw), "salt": b64(salt), "additionalParameters": {}}),
               "credentialData": j({"hashIterations": tc, "algorithm": "argon2",
                                    "additionalParameters": {"hashLength": [str(hl)], "memory": [str(m)], "type": [t],
                                                             "version": [ver], "parallelism": [str(p)]}})})
        scheme = "argon2" + t
        add(f"{scheme}-keycloak-{slug(pw)}", scheme, h, pw,
            check=lambda x, salt=salt, tc=tc, m=m, p=p, hl=hl, t=t, raw=raw: a2.hash_secret_raw(
                x, salt, time_cost=tc, memory_cost=m, parallelism=p, hash_len=hl,
                type={"id": a2.Type.ID, "i": a2.Type.I, "d": a2.Type.D}[t], version=19) == raw,
            source=S_ARGON2 + " low_level.hash_secret_raw; " + KEYCLOAK + ": argon2 with additionalParameters keys type/version/"
            "hashLength/memory/parallelism (values are single-element string lists), t = credentialData.hashIterations, "
            "value = base64(raw hash), salt = base64(raw salt)")


# ============================================================================================
def main() -> None:
    gen_bcrypt()
    gen_bcrypt_sha256()
    gen_django_bcrypt_sha256()
    gen_wordpress()
    gen_argon2()
    gen_scrypt()
    gen_firebase()
    gen_pbkdf2()
    gen_crypt()
    gen_unix_legacy()
    gen_databases()
    gen_pbkdf2_dialects()
    gen_frameworks()
    gen_whirlpool()
    gen_phpass()
    gen_ldap()
    gen_digests()
    gen_auth0()
    gen_fusionauth()
    gen_keycloak()
    tools = V
    if "--fresh" not in sys.argv and OUT.exists():
        # Keep every vector already in the corpus as it is (salts are random, so a re-run
        # would otherwise rewrite them all): only vectors with new ids are added. Each kept
        # vector was checked when it was made; --fresh regenerates everything.
        old = json.loads(OUT.read_text(encoding="utf-8"))
        kept = {v["id"] for v in old["vectors"]}
        orphans = sorted(kept - IDS)
        if orphans:
            print(f"kept {len(orphans)} vectors that this script does not make: {orphans}", file=sys.stderr)
        VECTORS[:] = old["vectors"] + [v for v in VECTORS if v["id"] not in kept]
        tools = {**old["tools"], **{k: v for k, v in V.items() if k not in old["tools"]}}
    doc = {
        "comment": "Generated by generate.py from independent implementations; never edit by hand.",
        "tools": tools,
        "vectors": VECTORS,
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for v in VECTORS:
        counts[v["scheme"]] = counts.get(v["scheme"], 0) + 1
    for k in sorted(counts):
        print(f"{k:22s} {counts[k]}")
    print(f"total {len(VECTORS)} vectors -> {OUT}")


if __name__ == "__main__":
    main()
