import numpy as np
import pytest

from amf_edge.metrics import confusion_matrix, scores


def test_confusion_matrix_and_scores_by_hand():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 1]], np.uint8)
    prediction = np.array([[0, 1, 1, 1], [2, 0, 2, 0]], np.uint8)
    conf = confusion_matrix(prediction, target, 3)
    # rows = truth, columns = prediction; the 255 pixel is ignored
    assert conf.tolist() == [[1, 1, 0],
                             [1, 2, 0],
                             [1, 0, 1]]
    s = scores(conf)
    assert s["pixel_acc"] == pytest.approx(4 / 7)
    assert s["mean_acc"] == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)
    # IoU_c = TP / (GT + Pred - TP): class 0: 1/(2+3-1), class 1: 2/(3+3-2), class 2: 1/(2+1-1)
    assert s["iou"] == pytest.approx([1 / 4, 2 / 4, 1 / 2])
    assert s["miou"] == pytest.approx((1 / 4 + 2 / 4 + 1 / 2) / 3)


def test_absent_classes_are_left_out_of_the_means():
    target = np.array([0, 0, 1], np.uint8)
    prediction = np.array([0, 0, 1], np.uint8)
    s = scores(confusion_matrix(prediction, target, 4))  # classes 2, 3: neither present nor predicted
    assert s["iou"] == [1.0, 1.0, None, None]
    assert s["miou"] == 1.0 and s["mean_acc"] == 1.0
    # a class predicted but absent from the truth has IoU 0 and counts
    s = scores(confusion_matrix(np.array([0, 3, 1], np.uint8), target, 4))
    assert s["iou"][3] == 0.0 and s["miou"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert scores(np.zeros((2, 2), np.int64))["pixel_acc"] is None
