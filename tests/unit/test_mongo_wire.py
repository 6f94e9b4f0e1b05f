"""OP_MSG framing of the wire-protocol test server, byte for byte (the driver tests are in
tests/integration/test_mongo_wire.py)."""

import struct

import bson
import pytest

from tests.support.mongo_wire import CHECKSUM_PRESENT, OP_MSG, ProtocolError, encode_op_msg, parse_op_msg


def op_msg_payload(flags: int, body: dict[str, object], sequences: dict[str, list[dict[str, object]]]) -> bytes:
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(body)
    for name, docs in sequences.items():
        section = name.encode() + b"\x00" + b"".join(bson.encode(doc) for doc in docs)
        payload += b"\x01" + struct.pack("<i", 4 + len(section)) + section
    return payload + (b"\xde\xad\xbe\xef" if flags & CHECKSUM_PRESENT else b"")


@pytest.mark.parametrize("flags", [0, CHECKSUM_PRESENT])
def test_document_sequences_fold_into_the_command(flags: int) -> None:
    payload = op_msg_payload(flags, {"insert": "c", "$db": "d"}, {"documents": [{"_id": 1}, {"_id": 2}]})
    assert parse_op_msg(payload) == (flags, {"insert": "c", "$db": "d", "documents": [{"_id": 1}, {"_id": 2}]})


def test_malformed_messages_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        parse_op_msg(struct.pack("<I", 0) + b"\x00" + b"\x05\x00\x00\x00")  # a truncated document
    with pytest.raises(ProtocolError):
        parse_op_msg(struct.pack("<I", 0) + b"\x07" + bson.encode({"a": 1}))  # no such section kind
    with pytest.raises(ProtocolError):
        parse_op_msg(op_msg_payload(0, {}, {})[:4])  # no body


def test_a_reply_answers_its_request() -> None:
    message = encode_op_msg({"ok": 1.0}, request_id=7, response_to=42)
    length, request_id, response_to, opcode = struct.unpack_from("<iiii", message)
    assert (length, request_id, response_to, opcode) == (len(message), 7, 42, OP_MSG)
    assert parse_op_msg(message[16:]) == (0, {"ok": 1.0})
