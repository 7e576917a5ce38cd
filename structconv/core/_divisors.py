"""The divisors of a channel count, in time that does not grow with the count.

Group numbers and design parameters range over divisors of channel counts, and a layer may claim
2**40 channels (an ONNX file says so in a few bytes): counting up to n would never end. ``divisors``
factors n instead (trial division by the small primes, then Pollard's rho with a deterministic
Miller-Rabin test), which takes milliseconds for any n up to MAX_N (2**64: the simulator's counts are
64-bit, so no layer it runs has more channels).
"""
from __future__ import annotations

import math
import random
from functools import lru_cache

from .checks import int_field

MAX_N = 2**64
_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)   # exact for every n < 3.3e24
_SMALL = tuple(p for p in range(2, 1000) if all(p % q for q in range(2, math.isqrt(p) + 1)))


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in _BASES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _a_factor(n: int, rng: random.Random) -> int:
    """A proper factor of the odd composite ``n`` (Pollard's rho, Floyd's cycle finding)."""
    while True:
        c, x = rng.randrange(1, n), rng.randrange(2, n)
        y, d = x, 1
        while d == 1:
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            d = math.gcd(abs(x - y), n)
        if d != n:
            return d


def _prime_factors(n: int) -> list[int]:
    """The prime factors of ``n`` with multiplicity, in no particular order."""
    out = []
    for p in _SMALL:
        while n % p == 0:
            out.append(p)
            n //= p
    rng, todo = random.Random(n), [n] if n > 1 else []
    while todo:
        m = todo.pop()
        if _is_prime(m):
            out.append(m)
        else:
            d = _a_factor(m, rng)
            todo += [d, m // d]
    return out


@lru_cache(maxsize=1024)
def divisors(n: int) -> tuple[int, ...]:
    """Every divisor of ``n`` in [1, MAX_N], ascending."""
    n = int_field("channel count", n, 1, MAX_N)
    divs = [1]
    for p in sorted(set(f := _prime_factors(n))):
        k = f.count(p)
        divs = [d * p**e for d in divs for e in range(k + 1)]
    return tuple(sorted(divs))
