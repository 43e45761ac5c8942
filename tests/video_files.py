"""Checks on what the runtime writes, shared by the runtime and CLI tests."""


def video_frames(path) -> int:
    """How many frames OpenCV reads back from a video file: it plays, and holds what was written."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    return n
