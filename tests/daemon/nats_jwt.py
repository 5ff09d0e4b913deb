#!/usr/bin/env python3
"""nats_jwt.py: a NATS operator, an account and users for a test, without
nsc (Debian has none): nkeys and JWTs made with the cryptography package's
Ed25519.

    nats_jwt.py DIR

writes into DIR (0600 files; exit 77 without the cryptography package):
    server.conf    the operator-mode lines for nats-server: the operator
                   JWT, resolver MEMORY, resolver_preload with the
                   account (JetStream on, no limits) and the system
                   account (JetStream needs one), system_account
    user.creds     a user of that account: its JWT and its seed
    stranger.creds a user of an account the server does not know
    broken.creds   a creds file without a seed

The formats, as nats-io/nkeys and nats-io/jwt (v2) define them:
  public key  base32, no padding, of [type byte] + 32-byte Ed25519 public
              key + CRC16 (XMODEM) of those bytes, little-endian; the type
              byte makes the first letter: O operator, A account, U user
  seed        the same with two leading bytes: the seed byte (S) with the
              type byte's top 3 bits, then its low 5 bits << 3; and the
              32-byte Ed25519 seed
  JWT         base64url (no padding) of the header {"typ": "JWT", "alg":
              "ed25519-nkey"} and of the claims, joined by '.', then '.'
              and base64url of the issuer's signature over "header.claims"
  claims      jti (base32 of SHA-512/256 of the claims without it), iat,
              iss (the signer's public key), sub (the subject's), name,
              and "nats": {"type": ..., "version": 2, ...}
"""
import base64
import binascii
import json
import os
import sys
import time

try:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey)
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat)
except ImportError as e:  # exit 77: the test skips, naming the package
    print("nats_jwt.py: %s (Debian: python3-cryptography)" % e,
          file=sys.stderr)
    sys.exit(77)

PREFIX_SEED = 18 << 3
PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def with_crc(raw):
    # binascii.crc_hqx with 0 is CRC-16/XMODEM (poly 0x1021, init 0)
    return raw + binascii.crc_hqx(raw, 0).to_bytes(2, "little")


class Key:
    """An nkey of one type: its seed, its public key."""

    def __init__(self, kind):
        self.kind = kind
        self.raw_seed = os.urandom(32)
        self.priv = Ed25519PrivateKey.from_private_bytes(self.raw_seed)
        pub = self.priv.public_key().public_bytes(Encoding.Raw,
                                                  PublicFormat.Raw)
        self.public = b32(with_crc(bytes([PREFIX[kind]]) + pub))

    def seed(self):
        t = PREFIX[self.kind]
        head = bytes([PREFIX_SEED | t >> 5, (t & 31) << 3])
        return b32(with_crc(head + self.raw_seed))

    def sign(self, data):
        return self.priv.sign(data)


def jwt(issuer, subject, name, nats):
    claims = {"iat": int(time.time()), "iss": issuer.public,
              "name": name, "sub": subject.public, "nats": nats}
    h = hashes.Hash(hashes.SHA512_256())
    h.update(json.dumps(claims, separators=(",", ":")).encode())
    claims["jti"] = b32(h.finalize())
    head = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"},
                             separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signed = head + "." + body
    return signed + "." + b64url(issuer.sign(signed.encode()))


def account_jwt(operator, account, name, jetstream):
    limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1,
              "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
    if jetstream:  # on for an account whose storage is not 0
        limits.update({"mem_storage": -1, "disk_storage": -1,
                       "streams": -1, "consumer": -1})
    return jwt(operator, account, name, {"type": "account", "version": 2,
                                         "limits": limits})


def user_jwt(account, user, name):
    return jwt(account, user, name, {"type": "user", "version": 2,
                                     "pub": {}, "sub": {}, "subs": -1,
                                     "data": -1, "payload": -1})


def creds(token, seed):
    text = ("-----BEGIN NATS USER JWT-----\n%s\n"
            "------END NATS USER JWT------\n\n" % token)
    if seed is not None:
        text += ("-----BEGIN USER NKEY SEED-----\n%s\n"
                 "------END USER NKEY SEED------\n" % seed)
    return text


def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: nats_jwt.py DIR")
    out = sys.argv[1]
    op, acct, user = Key("operator"), Key("account"), Key("user")
    system = Key("account")
    other, stranger = Key("account"), Key("user")
    op_jwt = jwt(op, op, "sg-test", {"type": "operator", "version": 2})
    user_token = user_jwt(acct, user, "streamgated")
    write(os.path.join(out, "server.conf"),
          'operator: "%s"\nsystem_account: %s\nresolver: MEMORY\n'
          'resolver_preload: {\n  %s: "%s"\n  %s: "%s"\n}\n' % (
              op_jwt, system.public,
              acct.public, account_jwt(op, acct, "sg", True),
              system.public, account_jwt(op, system, "SYS", False)))
    write(os.path.join(out, "user.creds"), creds(user_token, user.seed()))
    write(os.path.join(out, "stranger.creds"),
          creds(user_jwt(other, stranger, "stranger"), stranger.seed()))
    write(os.path.join(out, "broken.creds"), creds(user_token, None))


if __name__ == "__main__":
    main()
