"""web.openapi: the API documentation's examples are real answers' shapes, and the app's schema
carries them."""

from __future__ import annotations

import pytest

from digitrec.reading.answers import Prediction
from digitrec.web import openapi


def test_the_examples_have_the_fields_of_a_real_answer():
    real = Prediction(7, 0.99, [0.0] * 7 + [0.99] + [0.0] * 2, file="seven.png").to_dict()
    example = openapi.EXAMPLE_NO_DIGIT
    blank = Prediction(None, 0.31, [0.1] * 10, example["reason"], example["no_digit"], file="blank.jpg").to_dict()
    assert set(openapi.EXAMPLE_PREDICTION) == set(real) and set(openapi.EXAMPLE_NO_DIGIT) == set(blank)
    assert blank["no_digit"] == openapi.EXAMPLE_NO_DIGIT["no_digit"] and "best_guess" not in blank
    doubt = openapi.EXAMPLE_DOUBT
    unsure = Prediction(
        None, 0.45, doubt["probabilities"], doubt["reason"], doubt["no_digit"], "small-one.png", not_digit_score=0.43
    ).to_dict()
    assert set(unsure) == set(doubt) and unsure["best_guess"] == doubt["best_guess"] == 1
    # The shipped model's own answer for those probabilities, word for word.
    from digitrec.reading.predictor import Predictor
    from digitrec.store import PRETRAINED

    shipped = Predictor(PRETRAINED.with_suffix(".tflite")).answer(doubt["probabilities"], file="small-one.png")
    assert {k: v for k, v in shipped.to_dict().items() if k != "model"} == doubt


def test_the_apps_schema_documents_each_route(good_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from digitrec.web import create_app

    app = create_app(model=str(good_run.run_dir))
    schema = TestClient(app).get("/openapi.json").json()
    predict = schema["paths"]["/predict"]["post"]
    assert predict["summary"] == openapi.PREDICT["summary"]
    assert set(predict["requestBody"]["content"]) == {
        "multipart/form-data",
        "image/*",
        "application/octet-stream",
        "application/json",
    }
    batch = schema["paths"]["/predict/batch"]["post"]
    assert set(batch["requestBody"]["content"]) == {"multipart/form-data"}  # several files: a form only
    assert "413" in predict["responses"] and "/predict/batch" in schema["paths"]
