"""The web app's HTTP status of a LabelError comes from its class (one table), never from its message."""

from __future__ import annotations

import inspect

import pytest

from rainset import errors
from rainset.annotate_ui.app import LABEL_ERROR_STATUS, label_error_status
from rainset.errors import (AlreadyExistsError, InvalidInputError, LabelError, NotFoundError, NotInQueueError,
                            ReadOnlyStoreError)

EXPECTED = {LabelError: 400, InvalidInputError: 400, NotFoundError: 404, NotInQueueError: 403, AlreadyExistsError: 409,
            ReadOnlyStoreError: 503}


def test_the_table_maps_every_label_error_class() -> None:
    defined = {cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, LabelError)}
    assert set(LABEL_ERROR_STATUS) == defined == set(EXPECTED)
    assert LABEL_ERROR_STATUS == EXPECTED
    for cls, status in EXPECTED.items():
        assert label_error_status(cls("some message")) == status


@pytest.mark.parametrize("cls, message", [
    (NotFoundError, "nothing by that name here"),
    (NotInQueueError, "you may not label this one"),
    (AlreadyExistsError, "taken"),
    (InvalidInputError, "no capture with id 'x' already exists, not in any queue"),
])
def test_rewording_a_message_cannot_change_a_status(cls: type[LabelError], message: str) -> None:
    assert label_error_status(cls(message)) == EXPECTED[cls]


@pytest.mark.parametrize("message", ["no capture with id 'x'", "no user named 'x'", "no tile (9, 9)",
                                     "capture c: its preview is missing from the store",
                                     "capture c is not in 'ann''s queue", "user 'x' already exists"])
def test_a_plain_label_error_is_400_whatever_it_says(message: str) -> None:
    assert label_error_status(LabelError(message)) == 400


def test_the_most_specific_class_wins() -> None:
    class MissingPreview(NotFoundError):
        pass

    class Both(NotInQueueError, InvalidInputError):
        pass

    assert label_error_status(MissingPreview("gone")) == 404
    assert label_error_status(Both("x")) == 403
