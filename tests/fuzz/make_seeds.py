#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into corpus/<target>/.

The seeds are small valid inputs of each decoder (hand-encoded protobuf,
HTTP requests, JSON bodies), so that libFuzzer starts from inputs that get
past the first checks. Run it again after a format change; libFuzzer's own
finds go to the build dir, never here (tools/fuzz.sh).
"""
import base64
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, value):
    """A protobuf field: int -> varint, bytes -> length-delimited."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    return varint(num << 3 | 2) + varint(len(value)) + value


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def change(data_json, tags=(), ts=5):
    out = field(1, ts) + field(4, data_json.encode())
    for t in tags:
        out += field(3, t.encode())
    return out


def entry(term, index, typ, data):
    out = field(1, term) + field(2, index)
    if typ:
        out += field(3, typ)
    return out + field(4, data)


def request(method, target, body="", headers=()):
    head = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, target)
    for h in headers:
        head += h + "\r\n"
    if body:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head + "\r\n" + body


def http_seeds():
    auth = "Authorization: Basic " + base64.b64encode(b"alice:secret").decode()
    reqs = {
        "get_feed": request("GET", "/changes?since=1&limit=5&tag=a&tag=b&block=1"),
        "get_feed_time": request("GET", "/changes?sinceTime=2026-01-02T03:04:05.5Z&prefix=k"),
        "get_change": request("GET", "/changes/1?consistent=true", headers=[auth]),
        "post_change": request("POST", "/changes", '{"data":{"a":1},"tags":["t"],"type":1}',
                               ["Idempotency-Key: r1"]),
        "post_key_change": request("POST", "/changes?wait=false", '{"key":"k","data":1,"ifRevision":0}'),
        "post_batch": request("POST", "/changes/batch", '[{"data":1},{"x":2}]'),
        "put_key": request("PUT", "/keys/a%2Fb", '{"value":{"v":1},"ifRevision":0}'),
        "delete_key": request("DELETE", "/keys/a?ifRevision=3"),
        "txn": request("POST", "/txn", '{"compares":[{"key":"a","revision":0}],'
                       '"ops":[{"key":"a","value":1},{"key":"b","delete":true}]}'),
        "lease": request("POST", "/leases", '{"ttl":10}'),
        "lease_keepalive": request("PUT", "/leases/5"),
        "keys_list": request("GET", "/keys?prefix=a&after=a&limit=3"),
        "members": request("POST", "/cluster/members", '{"name":"n4","peerURL":"127.0.0.1:1"}'),
        "leader": request("POST", "/cluster/leader", '{"id":2}'),
        "health": "PUT /health HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nup=false",
        "stream": request("GET", "/changes/stream?since=0", headers=["Last-Event-ID: 3"]),
        "chunked": "POST /changes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
        "diag": request("GET", "/diagnostics/raft", headers=["X-Cluster-Id: 00000000000000aa"]),
    }
    for name, r in reqs.items():
        write("fuzz_http_request", name, r)


def json_seeds():
    bodies = [
        (0, '{"data":{"a":[1,2,{"b":null}]},"tags":["x","y"],"type":3}'),
        (0, '{"key":"k","data":1,"ifRevision":0}'),
        (1, '[{"data":1},{"data":"s","tags":["t"]},{"requestId":"r"}]'),
        (2, '{"value":{"x":1},"lease":7}'),
        (3, '{"compares":[{"key":"a","revision":3}],"ops":[{"key":"a","value":1},'
            '{"key":"b","delete":true}],"data":{"why":"x"}}'),
        (4, '{"ttl":30}'),
        (5, 'some/key'),
        (6, '{"_id":1,"_ts":2,"_type":0,"tags":[],"data":{}}'),
        (6, '{"changes":[{"_id":1,"_ts":2,"_type":0,"tags":["a"],"data":1}],"atStart":true,'
            '"atEnd":true,"firstIndex":1,"lastIndex":1}'),
        (7, '[{"_id":4,"_ts":5}]'),
        (8, '{"role":"leader","term":2,"commitIndex":5}'),
        (9, '{"_id":3,"revision":3,"key":"k"}'),
    ]
    for i, (sel, text) in enumerate(bodies):
        write("fuzz_change_json", "seed%02d" % i, bytes([sel]) + text.encode())


def frame(body):
    return struct.pack(">I", len(body)) + body


def peer_seeds():
    hs = field(1, field(1, 0xAA) + field(2, 7) + field(3, 1) + field(4, b"n1")
               + field(5, b"http://127.0.0.1:8080") + field(6, b"127.0.0.1:2380"))
    append = (field(1, 4) + field(2, 0xAA) + field(3, 7) + field(4, 9) + field(5, 2) + field(6, 1)
              + field(7, 3) + field(8, entry(2, 4, 0, change('{"a":1}', ["t"])))
              + field(9, 3))
    vote = field(1, 2) + field(2, 0xAA) + field(3, 7) + field(4, 9) + field(5, 3)
    fwd = field(3, field(1, 11) + field(2, change('{"b":2}')) + field(2, change("[]")))
    resp = field(4, field(1, 11) + field(4, 5) + field(5, 6) + field(6, 2) + field(7, 99))
    write("fuzz_peer_frame", "handshake", frame(hs))
    write("fuzz_peer_frame", "handshake_append", frame(hs) + frame(field(2, append)))
    write("fuzz_peer_frame", "vote", frame(field(2, vote)))
    write("fuzz_peer_frame", "forward", frame(fwd) + frame(resp))


def entry_seeds():
    write("fuzz_entry_decode", "entry_change", b"\x00" + entry(2, 5, 0, change('{"x":1}', ["a"])))
    write("fuzz_entry_decode", "entry_noop", b"\x00" + entry(2, 6, 0, b""))
    write("fuzz_entry_decode", "entry_membership", b"\x00" + entry(1, 1, 1, b"\x01\x07\x00"))
    write("fuzz_entry_decode", "hard_state", b"\x01" + field(1, 3) + field(2, 7) + field(3, 10))
    members = field(1, field(1, 7) + field(3, b"127.0.0.1:2380")) + field(
        1, field(1, 8) + field(2, 1) + field(3, b"127.0.0.1:2381"))
    write("fuzz_entry_decode", "members", b"\x02" + members)
    write("fuzz_entry_decode", "snapshot_meta", b"\x03" + field(1, 9) + field(2, 2) + field(3, members))


def auth_seeds():
    write("fuzz_auth_files", "htpasswd",
          b"\x00# users\nalice:$2y$05$KPhQJjdZMMY9m3IJsNBotOyB3KL8vat/KMtXvWd6ShbGLuZbCAuze\n")
    write("fuzz_auth_files", "roles", b"\x01alice:admin\n*:read\n")
    write("fuzz_auth_files", "cn_map", b"\x02client.example:alice\n")
    write("fuzz_auth_files", "base64", b"\x03" + base64.b64encode(b"alice:secret"))


def yaml_seeds():
    write("fuzz_yaml_config", "webhooks",
          b"retentionMinRecords: 7000\nwebhooks:\n  - url: http://127.0.0.1:9/v\n"
          b"    tags: [orders]\n    timeoutMs: 300\n    failurePolicy: fail-open\n")
    write("fuzz_yaml_config", "aliases",
          b'base: &b {x: 1, y: [a, "b", !!str 3]}\ncopy: *b\nn: ~\nf: 1.5e3\nq: "50"\n')


if __name__ == "__main__":
    http_seeds()
    json_seeds()
    peer_seeds()
    entry_seeds()
    auth_seeds()
    yaml_seeds()
