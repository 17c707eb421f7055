#!/usr/bin/env python3
"""REST checks of the compose test (tests/compose/run.sh), against the
gateway that compose.yaml publishes. Standard library only.

  check.py snapshots BASE EMAIL PASSWORD TIMEOUT
      waits until a host of the admin's tenant has stored snapshots; prints
      the host id
  check.py latest BASE EMAIL PASSWORD HOST
      prints the unix time (float) of the host's newest stored snapshot
  check.py wait-after BASE EMAIL PASSWORD HOST UNIX TIMEOUT
      waits until a snapshot collected after UNIX is stored
  check.py no-gap BASE EMAIL PASSWORD HOST FROM TO INTERVAL
      every snapshot collected between FROM and TO (unix seconds) is served
      by /api/hosts/{id}/metrics: as many points as (TO - FROM) / INTERVAL,
      and no two consecutive ones (nor the window's edges) further apart
      than 1.75 intervals (a missing snapshot leaves a gap of 2)
Exit status 1 with a message on stderr when a check fails.
"""

import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone


def fail(message):
    print(f"check.py: {message}", file=sys.stderr)
    sys.exit(1)


def call(base, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="POST" if body is not None else "GET")
    request.add_header("Accept", "application/json")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{request.method} {path}: {error.code} {error.read().decode(errors='replace')}") from None


def login(base, email, password):
    return call(base, "/api/auth/login", body={"email": email, "password": password})["access_token"]


def unix(timestamp):
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def points(base, token, host, start, end):
    answer = call(base, f"/api/hosts/{host}/metrics?from={iso(start)}&to={iso(end)}&limit=10000", token)
    return sorted(unix(point["timestamp"]) for point in answer["points"])


def snapshots(base, email, password, timeout):
    deadline = time.time() + float(timeout)
    last = "nothing asked yet"
    while time.time() < deadline:
        try:
            token = login(base, email, password)
            for host in call(base, "/api/hosts", token):
                if points(base, token, host["id"], time.time() - 600, time.time() + 60):
                    print(host["id"])
                    return
            last = "no host with a stored snapshot yet"
        except (RuntimeError, OSError) as error:
            last = str(error)
        time.sleep(2)
    fail(f"no snapshot of the demo agent reached the REST API within {timeout} s (last: {last})")


def latest(base, email, password, host):
    found = points(base, login(base, email, password), host, time.time() - 600, time.time() + 60)
    if not found:
        fail(f"host {host} has no stored snapshot")
    print(f"{found[-1]:.3f}")


def wait_after(base, email, password, host, after, timeout):
    deadline = time.time() + float(timeout)
    token = login(base, email, password)
    while time.time() < deadline:
        if points(base, token, host, float(after), time.time() + 60):
            return
        time.sleep(1)
    fail(f"no snapshot collected after {iso(float(after))} was stored within {timeout} s of the collector's restart")


def no_gap(base, email, password, host, start, end, interval):
    start, end, interval = float(start), float(end), float(interval)
    found = points(base, login(base, email, password), host, start, end)
    expected = (end - start) / interval
    edges = [start] + found + [end]
    gaps = [later - earlier for earlier, later in zip(edges, edges[1:])]
    widest = max(gaps)
    spread = {}
    for gap in gaps[1:-1]:
        spread[round(gap)] = spread.get(round(gap), 0) + 1
    shown = ", ".join(f"{count}x{seconds} s" for seconds, count in sorted(spread.items()))
    print(
        f"window {end - start:.1f} s at {interval:g} s: {len(found)} points served, {expected:.1f} expected, "
        f"widest gap {widest:.2f} s (between points: {shown})"
    )
    if len(found) < int(expected) - 1:
        fail(f"{len(found)} points served for {expected:.1f} intervals between {iso(start)} and {iso(end)}: snapshots are missing")
    if widest > 1.75 * interval:
        at = gaps.index(widest)
        fail(f"a gap of {widest:.2f} s after {iso(edges[at])}: at least one snapshot of that period is missing")


COMMANDS = {"snapshots": snapshots, "latest": latest, "wait-after": wait_after, "no-gap": no_gap}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: check.py {{{'|'.join(COMMANDS)}}} ARGS...")
    try:
        COMMANDS[sys.argv[1]](*sys.argv[2:])
    except (RuntimeError, OSError, KeyError, ValueError) as error:
        fail(f"{sys.argv[1]}: {error}")
