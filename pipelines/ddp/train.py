#!/usr/bin/env python3
"""Data-parallel training across SLUICE_NUM_NODES ranks, standard library only.

The rendezvous is the one torch.distributed uses (init_method "env://"):
SLUICE_MASTER_ADDR and SLUICE_MASTER_PORT name rank 0, which listens there;
every other rank connects and says who it is.  Then each step is an
all-reduce through rank 0: every rank computes the gradient of a linear
model on its own shard of the data, rank 0 averages them and sends the
average back, and all ranks apply the same update, so their weights stay
equal.  With PyTorch installed the same environment starts
`torchrun --nnodes=$SLUICE_NUM_NODES --node_rank=$SLUICE_NODE_RANK
--master_addr=$SLUICE_MASTER_ADDR --master_port=$SLUICE_MASTER_PORT train.py`.

Rank 0 reports `::metric` lines (its log is the stage's log); every rank
prints what it did to its own log.

    python3 pipelines/ddp/train.py [--steps 50] [--rows 2000] [--lr 0.5]
                                   [--timeout 60]
"""

import argparse
import json
import os
import random
import socket
import sys
import time


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value else default


def send(sock, obj):
    sock.sendall((json.dumps(obj) + "\n").encode())


class Lines:
    """Newline-delimited JSON messages from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def rendezvous(rank, world, addr, port, timeout):
    """Rank 0: accept world-1 peers.  Others: connect to rank 0 (retrying
    until it listens).  Returns the list of peers (rank 0) or [master]."""
    deadline = time.monotonic() + timeout
    if rank == 0:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # on Kubernetes addr is this pod's own name; listen everywhere
        srv.bind(("0.0.0.0", port))
        srv.listen(world)
        srv.settimeout(max(1.0, deadline - time.monotonic()))
        peers = {}
        while len(peers) < world - 1:
            conn, _ = srv.accept()
            conn.settimeout(timeout)
            lines = Lines(conn)
            hello = lines.recv()
            if hello.get("world") != world or hello.get("rank") in peers:
                raise RuntimeError("bad hello %r" % (hello,))
            peers[hello["rank"]] = (conn, lines)
            print("rank 0: rank %d joined from %s" % (hello["rank"],
                  hello.get("host")), flush=True)
        srv.close()
        for r, (conn, _) in sorted(peers.items()):
            send(conn, {"welcome": r, "world": world})
        return [peers[r] for r in sorted(peers)]
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=2)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                raise RuntimeError("rank 0 at %s:%d never answered: %s" %
                                   (addr, port, e))
            time.sleep(0.2)
    conn.settimeout(timeout)
    lines = Lines(conn)
    send(conn, {"rank": rank, "world": world, "host": socket.gethostname()})
    welcome = lines.recv()
    if welcome.get("welcome") != rank:
        raise RuntimeError("bad welcome %r" % (welcome,))
    print("rank %d: joined rank 0 at %s:%d" % (rank, addr, port), flush=True)
    return [(conn, lines)]


def dataset(rows, seed=7):
    """y = 3x - 2 plus noise, the same on every rank."""
    rnd = random.Random(seed)
    data = []
    for _ in range(rows):
        x = rnd.uniform(-1, 1)
        data.append((x, 3 * x - 2 + rnd.gauss(0, 0.1)))
    return data


def grad(shard, w, b):
    gw = gb = loss = 0.0
    for x, y in shard:
        err = w * x + b - y
        gw += 2 * err * x
        gb += 2 * err
        loss += err * err
    n = max(1, len(shard))
    return [gw / n, gb / n, loss / n]


def allreduce_mean(rank, peers, vec):
    """The mean of vec over all ranks, through rank 0."""
    if rank == 0:
        total = list(vec)
        for _, lines in peers:
            other = lines.recv()["v"]
            total = [a + b for a, b in zip(total, other)]
        mean = [t / (len(peers) + 1) for t in total]
        for conn, _ in peers:
            send(conn, {"v": mean})
        return mean
    conn, lines = peers[0]
    send(conn, {"v": vec})
    return lines.recv()["v"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()

    rank = env_int("SLUICE_NODE_RANK", 0)
    world = env_int("SLUICE_NUM_NODES", 1)
    addr = os.environ.get("SLUICE_MASTER_ADDR", "127.0.0.1")
    port = env_int("SLUICE_MASTER_PORT", 29500)
    if world < 1 or not 0 <= rank < world:
        print("bad rank %d of %d" % (rank, world), file=sys.stderr)
        return 2
    print("rank %d of %d, master %s:%d" % (rank, world, addr, port),
          flush=True)
    peers = rendezvous(rank, world, addr, port, a.timeout) if world > 1 else []
    shard = dataset(a.rows)[rank::world]
    w = b = 0.0
    loss = 0.0
    for _ in range(a.steps):
        gw, gb, loss = allreduce_mean(rank, peers, grad(shard, w, b))
        w -= a.lr * gw
        b -= a.lr * gb
    print("rank %d: w=%.4f b=%.4f loss=%.5f on %d rows" %
          (rank, w, b, loss, len(shard)), flush=True)
    if rank == 0:
        print("::metric loss=%.6f w=%.4f b=%.4f ranks=%d" %
              (loss, w, b, world), flush=True)
    for conn, _ in peers:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
