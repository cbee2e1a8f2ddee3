"""The README's API examples, run as a reader would against `gemba serve --demo`, answer what the
OpenAPI document says: each JSON answer validates against the operation's schema, and the request
bodies and answers written in the README validate too."""
import json
import os
import pathlib
import re
import urllib.parse
import urllib.request

import jsonschema
import pytest

BASE = os.environ["GEMBA_HTTP_URL"]
PASSWORD = os.environ["GEMBA_ADMIN_PASSWORD"]
README = (pathlib.Path(__file__).parents[2] / "README.md").read_text()


def call(method, path, token=None, body=None, headers=()):
    request = urllib.request.Request(BASE + path, method=method, data=body, headers=dict(headers))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


@pytest.fixture(scope="module")
def token():
    body = json.dumps({"email": "admin@gemba.local", "password": PASSWORD}).encode()
    return json.loads(call("POST", "/api/v1/auth/login", body=body)[2])["access_token"]


@pytest.fixture(scope="module")
def document(token):
    return json.loads(call("GET", "/openapi.json", token)[2])


def validator(document, schema):
    """A JSON Schema 2020-12 validator whose `#/components/...` references resolve in the document."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def operation(document, method, path):
    return document["paths"][urllib.parse.urlsplit(path).path][method]


def readme_gets():
    """Every `curl -s [']localhost:8080/api/v1/…[']` the README runs without a body."""
    lines = [line for line in README.splitlines() if line.startswith("curl -s") and " -d " not in line]
    found = [re.match(r"curl -s '?localhost:8080(/api/v1/[^' ]+)", line) for line in lines]
    return [match.group(1) for match in found if match and "/auth/" not in match.group(1)]


def test_the_readme_shows_the_api():
    assert len(readme_gets()) >= 7, readme_gets()


@pytest.mark.parametrize("path", readme_gets())
def test_each_readme_example_answers_what_the_document_says(path, token, document):
    status, content_type, body = call("GET", path, token)
    assert status == 200
    reply = operation(document, "get", path)["responses"]["200"]
    media = content_type.split(";")[0]
    assert media in reply["content"], (path, content_type)
    if media == "application/json":
        validator(document, reply["content"][media]["schema"]).validate(json.loads(body))
    else:
        assert body.startswith(b"time,machine,tag,value,quality\n")


def test_the_readme_ingest_example_and_its_answer_match_the_schemas(token, document):
    block = README[README.index("### HTTP JSON batches"):]
    block = block[:block.index("```\n", block.index("```sh") + 5)]
    request = re.search(r"-d '(\{.*?\})'", block, re.DOTALL).group(1)
    shown_answer = re.search(r"^# (\{.*\})$", block, re.MULTILINE).group(1)
    ingest = operation(document, "post", "/api/v1/ingest")
    validator(document, ingest["requestBody"]["content"]["application/json"]["schema"]).validate(json.loads(request))
    answer_schema = ingest["responses"]["200"]["content"]["application/json"]["schema"]
    validator(document, answer_schema).validate(json.loads(shown_answer))
    status, _, body = call("POST", "/api/v1/ingest", token, request.encode(), [("Idempotency-Key", "readme-example")])
    assert status == 200
    validator(document, answer_schema).validate(json.loads(body))
    assert json.loads(body) == json.loads(shown_answer)


def test_a_wrong_shape_is_caught(document):
    """The check can fail: an answer missing a required member does not validate."""
    schema = operation(document, "get", "/api/v1/oee/current")["responses"]["200"]["content"]["application/json"]["schema"]
    with pytest.raises(jsonschema.ValidationError):
        validator(document, schema).validate({"asset": "x", "machines": []})
