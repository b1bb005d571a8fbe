"""The COCO 2017 reader and its synthetic generator: layout, one-image sequences, the original's filters, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from seqtrack_accel.config import CropConfig, DataConfig
from seqtrack_accel.data import coco
from seqtrack_accel.data.coco import load_coco
from seqtrack_accel.data.dataset import TrackingDataset
from seqtrack_accel.data.image import read_image
from seqtrack_accel.data.synthetic import make_synthetic_coco

ANNOTATIONS = "annotations/instances_train2017.json"
CLASSES = ("person", "car", "dog", "cat")


@pytest.fixture(scope="module")
def synthetic_coco(tmp_path_factory):
    """6 images of 160x120 with 3 objects each, a crowd annotation and one without area. Do not modify."""
    return make_synthetic_coco(tmp_path_factory.mktemp("coco") / "coco", CLASSES, images=6, objects_per_image=3,
                               size=(160, 120), seed=0)


@pytest.fixture
def coco_copy(synthetic_coco, tmp_path):
    """A private copy to break; returns (root, the parsed annotation file)."""
    root = tmp_path / "coco"
    shutil.copytree(synthetic_coco, root)
    return root, json.loads((root / ANNOTATIONS).read_text())


def _annotations(root):
    return json.loads((root / ANNOTATIONS).read_text())


def _write(root, instances):
    (root / ANNOTATIONS).write_text(json.dumps(instances))


def _luma(rgb):
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def test_tree_has_the_coco_2017_layout(synthetic_coco):
    data = _annotations(synthetic_coco)
    assert {"images", "annotations", "categories"} <= data.keys()
    assert sorted(p.name for p in (synthetic_coco / "train2017").iterdir()) == [f"{i:012d}.jpg" for i in range(1, 7)]
    assert all({"id", "file_name", "width", "height"} <= image.keys() for image in data["images"])
    assert all({"id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"} <= a.keys()
               and len(a["bbox"]) == 4 for a in data["annotations"])
    assert [c["name"] for c in data["categories"]] == list(CLASSES)
    assert [a["iscrowd"] for a in data["annotations"]].count(1) == 1
    assert sum(a["bbox"][2] * a["bbox"][3] == 0 for a in data["annotations"]) == 1
    assert len({a["category_id"] for a in data["annotations"] if a["image_id"] == 2}) == 3  # different classes


def test_each_annotation_is_a_one_image_sequence_of_its_category(synthetic_coco):
    data = _annotations(synthetic_coco)
    category = {c["id"]: c["name"] for c in data["categories"]}
    first = data["annotations"][1]  # annotation 0 is the crowd one
    sequence = load_coco(synthetic_coco)[0]
    assert sequence.name == f"{first['image_id']:012d}_{first['id']}"
    assert sequence.class_name == category[first["category_id"]]
    assert len(sequence) == 1 and sequence.still
    assert sequence.boxes.dtype == np.float32 and sequence.boxes.shape == (1, 4)
    np.testing.assert_array_equal(sequence.boxes[0], first["bbox"])
    assert sequence.visible.tolist() == [True]
    assert sequence.frame_path(0) == synthetic_coco / "train2017" / f"{first['image_id']:012d}.jpg"


def test_boxes_are_within_a_pixel_of_the_drawn_objects(synthetic_coco):
    sequences = load_coco(synthetic_coco)
    for sequence in sequences:
        x, y, w, h = (int(v) for v in sequence.boxes[0])
        luma = _luma(read_image(sequence.frame_path(0)))
        x0, y0 = max(x - 2, 0), max(y - 2, 0)  # objects are drawn at least 4 pixels apart
        rows, cols = np.nonzero(luma[y0:y + h + 2, x0:x + w + 2] > 130)
        found = np.array([x0 + cols.min(), y0 + rows.min(), x0 + cols.max() + 1, y0 + rows.max() + 1])
        assert np.abs(found - [x, y, x + w, y + h]).max() <= 1, sequence.name
    assert len(sequences) == 6 * 3 - 1


def test_crowd_annotations_and_boxes_without_area_are_left_out(synthetic_coco):
    data = _annotations(synthetic_coco)
    kept = {a["id"] for a in data["annotations"] if a["iscrowd"] == 0 and a["bbox"][2] > 0 and a["bbox"][3] > 0}
    assert len(kept) == len(data["annotations"]) - 2
    assert {int(s.name.split("_")[1]) for s in load_coco(synthetic_coco)} == kept


def test_min_side_leaves_out_boxes_with_a_side_at_most_that_long(synthetic_coco):
    sides = np.concatenate([s.boxes[0, 2:] for s in load_coco(synthetic_coco)])
    min_side = float(np.median(sides))
    sequences = load_coco(synthetic_coco, min_side=min_side)
    assert 0 < len(sequences) < 17
    assert all(s.boxes[0, 2] > min_side and s.boxes[0, 3] > min_side for s in sequences)


def test_class_filter_keeps_only_those_categories(synthetic_coco):
    sequences = load_coco(synthetic_coco, classes=["dog", "cat"])
    assert {s.class_name for s in sequences} == {"dog", "cat"}
    assert len(sequences) == sum(s.class_name in ("dog", "cat") for s in load_coco(synthetic_coco))


def test_unknown_class_is_an_error_listing_the_categories(synthetic_coco):
    with pytest.raises(ValueError, match=r"class\(es\) zebra are not categories .*person, car, dog, cat"):
        load_coco(synthetic_coco, classes=["zebra"])


def test_images_in_the_original_seqtrack_layout_are_found(coco_copy):
    root, _ = coco_copy
    (root / "images").mkdir()
    (root / "train2017").rename(root / "images" / "train2017")
    sequences = load_coco(root)
    assert sequences[0].frames_dir == root / "images" / "train2017" and sequences[0].frame_path(0).is_file()


def test_annotation_file_is_parsed_once_per_process(coco_copy, monkeypatch):
    root, instances = coco_copy
    calls = []
    real_load = json.load
    monkeypatch.setattr(coco.json, "load", lambda f: calls.append(1) or real_load(f))
    load_coco(root)
    load_coco(root, classes=["dog"])
    assert len(calls) == 1
    instances["annotations"] = instances["annotations"][:5]  # a changed file is read again
    _write(root, instances)
    assert len(load_coco(root)) == 4 and len(calls) == 2


def test_missing_annotation_file_is_an_error_saying_what_to_unzip(coco_copy):
    root, _ = coco_copy
    (root / ANNOTATIONS).unlink()
    with pytest.raises(FileNotFoundError, match=r"annotations/instances_train2017.json is missing; unzip "
                                                r"annotations_trainval2017.zip"):
        load_coco(root)


def test_missing_image_folder_is_an_error_naming_both_layouts(coco_copy):
    root, _ = coco_copy
    shutil.rmtree(root / "train2017")
    with pytest.raises(FileNotFoundError, match=r"neither train2017/ nor images/train2017/; unzip train2017.zip"):
        load_coco(root)


def test_invalid_json_is_an_error_naming_the_line_and_column(coco_copy):
    root, _ = coco_copy
    (root / ANNOTATIONS).write_text('{"images": [],\n "annotations": [}')
    with pytest.raises(ValueError, match=r"instances_train2017.json line 2 column 18: not valid JSON"):
        load_coco(root)


def test_missing_top_level_key_is_an_error_naming_it(coco_copy):
    root, instances = coco_copy
    del instances["categories"]
    _write(root, instances)
    with pytest.raises(ValueError, match=r"instances_train2017.json has no 'categories' list"):
        load_coco(root)


def test_annotation_without_a_key_is_an_error_naming_the_entry_and_key(coco_copy):
    root, instances = coco_copy
    del instances["annotations"][3]["bbox"]
    _write(root, instances)
    ann_id = instances["annotations"][3]["id"]
    with pytest.raises(ValueError, match=rf"annotations\[3\] has no 'bbox' key \(id {ann_id}\)"):
        load_coco(root)


def test_malformed_bbox_is_an_error_naming_the_entry(coco_copy):
    root, instances = coco_copy
    instances["annotations"][4]["bbox"] = [1.0, 2.0, 3.0]
    _write(root, instances)
    with pytest.raises(ValueError, match=r"annotations\[4\] \(id \d+\) has bbox \[1.0, 2.0, 3.0\]"):
        load_coco(root)


def test_annotation_of_an_unknown_image_is_an_error_naming_it(coco_copy):
    root, instances = coco_copy
    instances["annotations"][2]["image_id"] = 999
    _write(root, instances)
    with pytest.raises(ValueError, match=r"annotations\[2\] \(id \d+\) has image_id 999, which no entry of images"):
        load_coco(root)


def test_missing_image_is_an_error_naming_it(coco_copy):
    root, _ = coco_copy
    (root / "train2017" / "000000000004.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"train2017/000000000004.jpg is missing \(1 of the 6 images"):
        load_coco(root)


def test_tracking_dataset_centres_every_crop_of_a_still_image_on_its_object(synthetic_coco):
    cfg = DataConfig(samples_per_epoch=12, search=CropConfig(32, 4.0), template=CropConfig(16, 2.0, number=2),
                     grayscale_prob=0.0, brightness_jitter=0.0)
    dataset = TrackingDataset(cfg, load_coco(synthetic_coco), seed=0)
    for i in range(12):
        sequence, frame_ids, _ = dataset.first_draw(i)
        sample = dataset[i]
        assert sequence.still and frame_ids == [0, 0, 0]
        crops = list(sample["template_images"]) + [sample["search_images"]]
        for crop in crops:  # without jitter the window is centred on the box: its middle is the object's
            side = crop.shape[-1]
            middle = crop[:, side // 2 - 1:side // 2 + 1, side // 2 - 1:side // 2 + 1].permute(1, 2, 0).numpy()
            assert (_luma(middle) > 130).all(), f"sample {i}"


def test_same_seed_writes_the_same_bytes(tmp_path):
    a = make_synthetic_coco(tmp_path / "a", CLASSES, images=2, objects_per_image=2, size=(64, 48), seed=3)
    b = make_synthetic_coco(tmp_path / "b", CLASSES, images=2, objects_per_image=2, size=(64, 48), seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
