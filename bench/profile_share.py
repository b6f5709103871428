#!/usr/bin/env python3
"""Sorts a `perf report --no-children --sort dso,symbol --stdio -g none` into the parts
of a request (each sample counts for the function it fell in, not its callers) and
prints microseconds of the server's core per request for each part.

    perf report ... | python3 bench/profile_share.py --requests N --cpu-seconds S
"""

import argparse
import re
import sys

# First match wins: (part, pattern on "dso symbol").
PARTS = [
    ("ES256 signature (aws-lc: P-256, nonce, SHA-256 of the input)",
     # aws-lc's own names; `ec_` and `bn_` only at a name's start (not Rust's `spec_extend`).
     r"ecdsa|p256|nistz256|ECDSA|EC_|BN_|fiat_|beeu|ecp_|(?<![A-Za-z])(?:ec|bn)_|aws_lc_\w*_(?:ec|bn)_"),
    ("hashes and randomness (aws-lc: the signature's nonce, client secret HMAC, token ids)",
     r"sha256|SHA256|sha512|hmac|HMAC|rand|RAND|CTR_DRBG|aes|AES|aws_lc|EVP_|OPENSSL|CRYPTO_"),
    ("kernel: TCP over loopback, epoll, scheduling", r"^\[kernel"),
    ("memory allocation and copies (libc)", r"malloc|free|realloc|calloc|memcpy|memmove|memset|memcmp|_int_|tcache|cfree"),
    ("other libc (system call wrappers, locks)", r"^libc|^libpthread|^ld-"),
    ("HTTP/1 parsing and writing (hyper, httparse, http)", r"hyper|httparse|http::|bytes::|h1::|headers"),
    ("async runtime (tokio, mio, futures)", r"tokio|mio::|futures|parking_lot|std::sync|std::thread|core::task"),
    ("routing and middleware (axum, tower, tower-http)", r"axum|tower|matchit"),
    ("JSON, base64, forms (serde_json, base64, form_urlencoded)",
     r"serde_json|serde::|base64|form_urlencoded|serde_urlencoded|percent_encoding|itoa|ryu|idna|url::"),
    ("logging and metrics (tracing)", r"tracing|metrics"),
    ("Sésame's own code (client auth, claims, throttles, the shared state)", r"sesame"),
    ("formatting and strings (core::fmt, alloc)", r"core::fmt|alloc::|core::str|core::slice|hashbrown|<alloc|<core|core::"),
]

LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=float, required=True)
    parser.add_argument("--top", type=int, default=25, help="also print the largest functions")
    args = parser.parse_args()
    shares, functions = {}, []
    for line in sys.stdin:
        match = LINE.match(line)
        if not match:
            continue
        percent, dso, _, symbol = float(match.group(1)), match.group(2), match.group(3), match.group(4).strip()
        # The kernel and libc by their file; the rest by the function's name, since
        # everything else is linked into Sésame's binary.
        text = dso if dso.startswith("[kernel") or dso.startswith(("libc", "libpthread", "ld-")) else symbol
        text = f"{text} {symbol}" if text == dso else text
        part = next((name for name, pattern in PARTS if re.search(pattern, text)), "other")
        shares[part] = shares.get(part, 0.0) + percent
        functions.append((percent, dso, symbol))
    per_request = args.cpu_seconds / max(args.requests, 1) * 1e6
    print(f"{per_request:.1f} µs of the server's core per request, by part:")
    print("| part | µs per request | share |")
    print("|---|---|---|")
    for part, percent in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"| {part} | {per_request * percent / 100:.1f} | {percent:.1f} % |")
    print(f"\nlargest functions (self, µs per request):")
    for percent, dso, symbol in sorted(functions, reverse=True)[: args.top]:
        print(f"  {per_request * percent / 100:6.2f}  {percent:5.1f} %  {dso[:18]:18}  {symbol[:110]}")


if __name__ == "__main__":
    main()
