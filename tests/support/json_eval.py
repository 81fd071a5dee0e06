"""json_eval.py IN OUT PID - t_json's evaluator for a whole test (lib.sh's
t_json_serve): one python3 instead of one per call.

Reads requests from the FIFO IN: an EXPR and a JSON document, each ended by
a NUL byte; evaluates EXPR with the parsed document as `d` (and json, sys)
as `python3 -c` would in t_json; writes to the FIFO OUT "0" and what t_json
prints, or "1" and the error, ended by a NUL byte.  Exits when process PID
(the test's shell) is gone."""
import json
import os
import sys
import threading
import traceback


def watch(pid):
    while True:
        threading.Event().wait(1.0)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def main():
    threading.Thread(target=watch, args=(int(sys.argv[3]),), daemon=True).start()
    rd = open(sys.argv[1], "rb")
    wr = open(sys.argv[2], "wb")
    buf = b""
    parts = []
    while True:
        chunk = os.read(rd.fileno(), 65536)
        if not chunk:
            return 0
        buf += chunk
        while b"\0" in buf:
            part, buf = buf.split(b"\0", 1)
            parts.append(part.decode())
            if len(parts) < 2:
                continue
            expr, doc = parts
            parts = []
            try:
                d = json.loads(doc)
                v = eval(expr, {"json": json, "sys": sys, "d": d})
                out = "0" + ("" if v is None else str(v)) + "\n"
            except Exception:
                out = "1" + traceback.format_exc()
            wr.write(out.replace("\0", "").encode() + b"\0")
            wr.flush()


if __name__ == "__main__":
    sys.exit(main())
