#!/usr/bin/env python
"""Converts a length-delimited OTLP protobuf trace file to JSON lines, one ExportTraceServiceRequest
per line, in one of two flavours:

  --flavour otlp    OTLP/JSON as the spec and the Collector's file exporter write it: hex trace and
                    span ids, enums as integers, 64-bit integers as strings. (default)
  --flavour pbjson  protobuf's canonical JSON mapping (google.protobuf.json_format): ids in base64,
                    enums as integers. What a generic protobuf tool emits; n1lens should cope.

Usage: otlp_to_json.py IN.otlp.pb OUT.jsonl [--flavour otlp|pbjson]
"""

import argparse
import base64
import json

from google.protobuf.json_format import MessageToDict

from recruit.file_exporter import read_requests

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node):
    # json_format writes bytes fields as base64; OTLP/JSON wants the ids as lowercase hex.
    if isinstance(node, dict):
        return {
            key: base64.b64decode(value).hex() if key in ID_FIELDS else _hex_ids(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def to_json(message, flavour: str) -> dict:
    as_dict = MessageToDict(message, use_integers_for_enums=True)
    return _hex_ids(as_dict) if flavour == "otlp" else as_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--flavour", choices=("otlp", "pbjson"), default="otlp")
    args = parser.parse_args()
    with open(args.target, "w", encoding="utf-8") as out:
        for message in read_requests(args.source):
            out.write(json.dumps(to_json(message, args.flavour), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
