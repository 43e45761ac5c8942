"""ROS messages ⇄ numpy for the `rosbag://` source and sink (rosbags, imported lazily: the `ros` extra).

Only what RGB-D segmentation needs: sensor_msgs/Image in the encodings cameras publish, CompressedImage
colour (JPEG/PNG through OpenCV), CameraInfo intrinsics, and header stamps. Errors name the topic, what
came and what would work, because the message layout is the user's recording, not our code.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.sample import Intrinsics, sanitize_depth_m

IMAGE, COMPRESSED = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED)
# encoding → (channels, channel order to reach RGB); cv_bridge's names, which realsense-ros and most drivers use
COLOR_ENCODINGS = {"rgb8": (3, "rgb"), "bgr8": (3, "bgr"), "rgba8": (4, "rgb"), "bgra8": (4, "bgr"), "mono8": (1, "")}
DEPTH_COUNTS = ("16UC1", "mono16")  # raw counts (realsense-ros: millimetres)
DEPTH_METRES = ("32FC1",)  # float metres (some drivers, depth_image_proc)
NS = 1_000_000_000


def rosbags(part: str) -> ModuleType:
    """`rosbags.<part>`, or an AmfEdgeError naming the extra that brings it."""
    return require_module(f"rosbags.{part}", "reading and writing ROS bags")


def typestore() -> object:
    """ROS 2 Humble's message types: the definitions for rosbag2 files that carry none, and the ones we write."""
    typesys = rosbags("typesys")
    return typesys.get_typestore(typesys.Stores.ROS2_HUMBLE)


def stamp_ns(header: object) -> int:
    return int(header.stamp.sec) * NS + int(header.stamp.nanosec)


def _rows(msg: object, topic: str, dtype: np.dtype, channels: int) -> np.ndarray:
    """The pixels of an Image as H×W×C of `dtype`, honouring row padding (step) and byte order."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * channels * dtype.itemsize
    data = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if h == 0 or w == 0 or step < row or data.size < h * step:
        raise AmfEdgeError(f"{topic}: a {msg.encoding} image of {w}×{h} with rows of {step} bytes needs "
                           f"{h * max(step, row)} bytes of data, the message has {data.size}; the bag is damaged "
                           "or the publisher filled the message wrongly")
    pixels = np.ascontiguousarray(data[: h * step].reshape(h, step)[:, :row])
    order = ">" if msg.is_bigendian else "<"
    return pixels.view(dtype.newbyteorder(order)).astype(dtype, copy=False).reshape(h, w, channels)


def color_image(msg: object, msgtype: str, topic: str) -> np.ndarray:
    """RGB uint8 H×W×3 from an Image (COLOR_ENCODINGS) or a JPEG/PNG CompressedImage."""
    if msgtype == COMPRESSED:
        cv2 = require_module("cv2", "decoding compressed colour images")
        bgr = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise AmfEdgeError(f"{topic}: OpenCV cannot decode a CompressedImage of format {msg.format!r}; "
                               "expected JPEG or PNG colour (image_transport's 'compressed')")
        # image_transport compresses colour as bgr8 ("rgb8; jpeg compressed bgr8"), which imdecode returns as it is
        return bgr[:, :, ::-1].copy() if "compressed rgb" not in msg.format else bgr
    if msg.encoding not in COLOR_ENCODINGS:
        raise AmfEdgeError(f"{topic}: colour encoding {msg.encoding!r} is not supported; expected one of "
                           f"{', '.join(COLOR_ENCODINGS)} (realsense-ros publishes rgb8), or pick another topic "
                           "with ?color=")
    channels, order = COLOR_ENCODINGS[msg.encoding]
    pixels = _rows(msg, topic, np.dtype(np.uint8), channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[:, :, :3] if order == "rgb" else pixels[:, :, 2::-1]
    return np.ascontiguousarray(rgb)


def depth_image(msg: object, msgtype: str, topic: str, depth_unit: float) -> np.ndarray:
    """uint16 H×W counts of `depth_unit` metres: 16UC1/mono16 as they are, 32FC1 metres quantised to the unit
    (invalid values and depths beyond 65535 counts become 0, no measurement)."""
    if msgtype != IMAGE:
        raise AmfEdgeError(f"{topic}: depth must be a sensor_msgs/Image (16UC1 or 32FC1), got a {msgtype} "
                           f"(format {getattr(msg, 'format', '?')!r}); record the raw depth topic, e.g. "
                           "/camera/aligned_depth_to_color/image_raw, and pass it with ?depth=")
    if msg.encoding in DEPTH_COUNTS:
        return _rows(msg, topic, np.dtype(np.uint16), 1)[:, :, 0]
    if msg.encoding in DEPTH_METRES:
        metres, _ = sanitize_depth_m(_rows(msg, topic, np.dtype(np.float32), 1)[:, :, 0])
        counts = np.rint(metres / np.float32(depth_unit))
        counts[counts > np.iinfo(np.uint16).max] = 0  # beyond what uint16 holds: no measurement, not a clamp
        return counts.astype(np.uint16)
    raise AmfEdgeError(f"{topic}: depth encoding {msg.encoding!r} is not supported; expected 16UC1 or mono16 "
                       "(counts, realsense-ros: millimetres) or 32FC1 (metres); is ?depth= a colour topic?")


def intrinsics(msg: object) -> Intrinsics | None:
    """fx, fy, cx, cy from a CameraInfo's K; None for an uncalibrated camera (K all zero, ROS's convention)."""
    k = [float(v) for v in np.asarray(msg.K if hasattr(msg, "K") else msg.k).reshape(-1)]
    if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
        return None
    return Intrinsics(k[0], k[4], k[2], k[5])
