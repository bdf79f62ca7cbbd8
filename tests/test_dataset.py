"""Labelled image folders: class subfolders matched to the model's names, flat folders, the
``classes=`` restriction, and one clear error for each bad folder."""

import numpy as np
import pytest
from PIL import Image

from gradcam.batch import list_inputs
from gradcam.dataset import LabelledImages, closest_names, match_folder, read_labelled_folder
from gradcam.errors import UserError
from gradcam.labels import imagenet_labels, labels_for

SHAPES = ["circle", "square", "triangle"]


def write_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / name)


@pytest.fixture
def shapes(tmp_path):
    root = tmp_path / "data"
    write_images(root / "square", ["b.png", "a.jpg"])
    write_images(root / "circle", ["c.png"])
    write_images(root / "circle" / "more", ["d.png"])  # nested deeper: still its class
    (root / "circle" / "notes.txt").write_text("not an image")
    write_images(root / ".hidden", ["x.png"])  # hidden folders are not classes
    return root


@pytest.fixture(scope="module")
def imagenet():
    return list(imagenet_labels())


def test_subfolders_give_each_image_its_class(shapes):
    data = read_labelled_folder(shapes, SHAPES)
    assert isinstance(data, LabelledImages) and data.labelled
    assert [data.relative(p) for p in data.paths] == [
        "circle/c.png",
        "circle/more/d.png",
        "square/a.jpg",
        "square/b.png",
    ]
    assert data.classes == (0, 0, 1, 1)
    assert data.folders == {"circle": 0, "square": 1}
    assert data.class_indices() == [0, 1]
    assert [p.name for p in data.of_class(1)] == ["a.jpg", "b.png"]
    assert data.wanted is None


def test_images_are_found_as_batch_mode_finds_them(shapes):
    data = read_labelled_folder(shapes, SHAPES)
    batch, _ = list_inputs(str(shapes))
    assert set(data.paths) == {p for p in batch if ".hidden" not in p.parts}


def test_flat_folder_is_unlabelled(tmp_path):
    write_images(tmp_path, ["z.png", "y.png"])
    data = read_labelled_folder(tmp_path, SHAPES, classes="square")
    assert not data.labelled and data.classes is None and data.folders == {}
    assert [p.name for p in data.paths] == ["y.png", "z.png"]
    assert data.wanted == (1,) and data.of_class(1) == () and data.class_indices() == []


@pytest.mark.parametrize("classes", ["square", ["square"], "1", [1], " square , ", "Square"])
def test_classes_restrict_the_images(shapes, classes):
    data = read_labelled_folder(shapes, SHAPES, classes=classes)
    assert data.wanted == (1,)
    assert data.classes == (1, 1) and {p.parent.name for p in data.paths} == {"square"}


def test_restriction_by_folder_name(tmp_path):
    write_images(tmp_path / "tiger_cat", ["a.png"])
    write_images(tmp_path / "n01440764", ["b.png"])  # tench, by WordNet id
    labels = list(imagenet_labels())
    data = read_labelled_folder(tmp_path, labels, classes=["tiger_cat"])
    assert data.classes == (282,) and data.wanted == (282,)


def test_imagenet_folder_names(imagenet):
    assert match_folder("tabby", imagenet) == 281
    assert match_folder("Tiger_Cat", imagenet) == 282
    assert match_folder("n02123045", imagenet) == 281  # WordNet id
    assert match_folder("great_white_shark", imagenet) == 2
    assert match_folder("kite (bird of prey)", imagenet) == 21  # curated short name
    assert match_folder("281", imagenet) == 281
    slim = labels_for(1, 1001)  # background first: every index moves up by one
    assert match_folder("tabby", slim) == 282 and match_folder("n02123045", slim) == 282
    assert match_folder("kite (bird of prey)", slim) == 22
    assert match_folder("no such thing", imagenet) is None


def test_wordnet_ids_only_for_imagenet_label_spaces():
    assert match_folder("n02123045", SHAPES) is None


def test_unmatched_folder_is_one_error_naming_it_and_the_closest_names(tmp_path):
    write_images(tmp_path / "squares", ["a.png"])
    write_images(tmp_path / "circle", ["b.png"])
    with pytest.raises(UserError) as error:
        read_labelled_folder(tmp_path, SHAPES)
    message = str(error.value)
    assert "\n" not in message
    assert "'squares'" in message and "closest: square" in message
    assert "'circle'" not in message
    assert closest_names("squares", SHAPES)[0] == "square"


def test_generic_class_names_hint_at_a_label_file(tmp_path):
    write_images(tmp_path / "circle", ["a.png"])
    with pytest.raises(UserError, match="--labels FILE"):
        read_labelled_folder(tmp_path, labels_for(0, 3))


def test_numbered_folders_match_generic_names(tmp_path):
    write_images(tmp_path / "0", ["a.png"])
    write_images(tmp_path / "class_2", ["b.png"])
    assert read_labelled_folder(tmp_path, labels_for(0, 3)).classes == (0, 2)


def test_ambiguous_folder_name(tmp_path, imagenet):
    write_images(tmp_path / "crane", ["a.png"])
    with pytest.raises(UserError, match=r"subfolder 'crane'.*ambiguous.*134.*517"):
        read_labelled_folder(tmp_path, imagenet)


def test_two_folders_of_one_class(tmp_path, imagenet):
    write_images(tmp_path / "tabby", ["a.png"])
    write_images(tmp_path / "tabby_cat", ["b.png"])
    with pytest.raises(UserError, match="all match class 281"):
        read_labelled_folder(tmp_path, imagenet)


def test_loose_images_beside_class_folders(tmp_path):
    write_images(tmp_path / "circle", ["a.png"])
    write_images(tmp_path, ["loose.png"])
    with pytest.raises(UserError, match="1 images .*loose.png.* beside class subfolders"):
        read_labelled_folder(tmp_path, SHAPES)


@pytest.mark.parametrize("make", ["empty", "text only", "missing", "file"])
def test_no_images(tmp_path, make):
    root = tmp_path / "data"
    if make != "missing":
        root.mkdir()
    if make == "text only":
        (root / "sub").mkdir()
        (root / "sub" / "a.txt").write_text("x")
    if make == "file":
        root = root / "one.png"
        write_images(root.parent, [root.name])
    with pytest.raises(UserError, match="no images found|not a folder"):
        read_labelled_folder(root, SHAPES)


def test_unknown_or_empty_restriction(shapes):
    with pytest.raises(UserError, match="unknown class 'hexagon'") as error:
        read_labelled_folder(shapes, SHAPES, classes="hexagon")
    assert error.value.for_command_line().startswith("--classes hexagon")
    with pytest.raises(UserError, match="no images of the classes"):
        read_labelled_folder(shapes, SHAPES, classes="triangle")
    with pytest.raises(UserError, match="no class given"):
        read_labelled_folder(shapes, SHAPES, classes=" , ")
