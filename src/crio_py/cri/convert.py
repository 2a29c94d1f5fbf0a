"""Records ⇄ CRI protobuf messages (pure functions)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from cri_api.v1 import api_pb2
from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
from google.protobuf.message import Message  # type: ignore[import-untyped,unused-ignore]

from crio_py.store.records import ImageRecord

MessageT = TypeVar("MessageT", bound=Message)


def message_to_json(message: Message) -> dict[str, Any]:
    """A CRI message as the JSON a record keeps (a kubelet's config, stored verbatim)."""
    data: dict[str, Any] = json_format.MessageToDict(message)
    return data


def message_from_json(data: Mapping[str, Any], message: MessageT) -> MessageT:
    """Fill `message` from what `message_to_json` made; unknown fields are ignored."""
    json_format.ParseDict(dict(data), message, ignore_unknown_fields=True)
    return message


def set_unknown_string(message: Message, number: int, value: str) -> None:
    """Set string field `number`, which these generated stubs predate, as an unknown field
    that serialises as the field (protobuf keeps unknown fields; the wire format is the same)."""
    data = value.encode()
    message.MergeFromString(_varint(number << 3 | 2) + _varint(len(data)) + data)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def image_user(config: dict[str, Any]) -> tuple[int | None, str]:
    """(uid, username) from an image config's User, as the CRI reports them: a numeric user
    gives the uid, a name gives the username (CRI-O and containerd do the same)."""
    user = str(config.get("config", {}).get("User", "") or "")
    name = user.split(":", 1)[0]
    if name.isdigit():
        return int(name), ""
    return None, name


def image_message(record: ImageRecord) -> api_pb2.Image:
    """The CRI Image of a record."""
    message = api_pb2.Image(
        id=record.id,
        repo_tags=list(record.repo_tags),
        repo_digests=list(record.repo_digests),
        size=record.size,
        username=record.username,
        pinned=record.pinned,
        spec=api_pb2.ImageSpec(image=record.id),
    )
    if record.uid is not None:
        message.uid.value = record.uid
    return message


def verbose_info(record: ImageRecord, config: dict[str, Any]) -> dict[str, str]:
    """ImageStatus verbose info: the image config and where its content is."""
    info = {
        "imageSpec": config,
        "manifest": record.manifest.model_dump(),
        "chainIDs": list(record.chain_ids),
        "pulledAt": record.pulled_at,
    }
    return {"info": json.dumps(info)}
