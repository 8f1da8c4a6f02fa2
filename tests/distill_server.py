"""A scripted OpenAI-compatible teacher for the distill tests and bench: answers what a test decides, injects the
faults a real server produces, and counts the requests it has in flight.

    server = TeacherServer(answer=lambda body: {"reasoning": "…", "content": "42"}, delay_s=0.05)
    server.faults = ["429", "500", "slow"]   # consumed one per request, in order; then normal answers
    with serving(server.app) as url: …       # tests/test_serve.py's helper: uvicorn in a thread on 127.0.0.1

Faults: "429" (with Retry-After: 0), "500", "400", "404" (unknown model), "slow" (answers after `slow_s`), "badjson"
(a 200 whose body is not JSON), "nofields" (a 200 without choices), "truncated" (the body, or the event stream,
stops half-way), "empty_reasoning" (a normal answer whose reasoning is ""). `always` repeats one fault forever.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

Answer = Callable[[dict[str, Any]], dict[str, Any]]  # request body -> {"reasoning", "content", "tool_calls"}


def default_answer(body: dict[str, Any]) -> dict[str, Any]:
    return {"reasoning": "I add the numbers.", "content": "The answer is 42."}


class TeacherServer:
    def __init__(self, answer: Answer = default_answer, *, delay_s: float = 0.0, slow_s: float = 5.0,
                 reasoning_field: str = "reasoning_content", model: str = "teacher"):
        self.answer, self.delay_s, self.slow_s = answer, delay_s, slow_s
        self.reasoning_field = reasoning_field  # reasoning_content | reasoning | thinking | inline (<think> in content)
        self.model = model
        self.faults: list[str] = []
        self.always: str | None = None
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.app = self._build()

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests += 1
            self.bodies.append(body)
            self.headers.append(dict(request.headers))
            fault = self.always or (self.faults.pop(0) if self.faults else None)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                return await self._respond(body, fault)
            finally:
                self.in_flight -= 1

        return app

    async def _respond(self, body: dict[str, Any], fault: str | None):
        errors = {"429": (429, "rate limited, slow down"), "500": (500, "the GPU caught fire"),
                  "400": (400, "this prompt is too long for the context window"),
                  "404": (404, f"The model `{body.get('model')}` does not exist.")}
        if fault in errors:
            status, message = errors[fault]
            headers = {"Retry-After": "0"} if status == 429 else None
            return JSONResponse({"error": {"message": message, "type": "error", "code": status}}, status, headers)
        if fault == "slow":
            await asyncio.sleep(self.slow_s)
        if fault == "badjson":
            return Response('{"choices": [{"message": ', media_type="application/json")
        if fault == "nofields":
            return JSONResponse({"id": "x", "object": "chat.completion"})
        answer = dict(self.answer(body))
        if fault == "empty_reasoning":
            answer["reasoning"] = ""
        message = self._message(answer)
        if body.get("stream"):
            return StreamingResponse(self._events(message, truncated=fault == "truncated"),
                                     media_type="text/event-stream")
        data = json.dumps({"id": "c1", "object": "chat.completion", "model": body.get("model"),
                           "choices": [{"index": 0, "message": message,
                                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
                           "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
        if fault == "truncated":
            async def cut():
                yield data[: len(data) // 2].encode()
                raise ConnectionAbortedError("the test server drops the connection mid-body")

            return StreamingResponse(cut(), media_type="application/json")
        return Response(data, media_type="application/json")

    def _message(self, answer: dict[str, Any]) -> dict[str, Any]:
        reasoning, content = answer.get("reasoning"), answer.get("content") or ""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if self.reasoning_field == "inline":
            message["content"] = f"<think>\n{reasoning}\n</think>\n\n{content}" if reasoning is not None else content
        elif reasoning is not None:
            message[self.reasoning_field] = reasoning
        if answer.get("tool_calls"):
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                for i, c in enumerate(answer["tool_calls"])]
        return message

    async def _events(self, message: dict[str, Any], truncated: bool):
        def event(delta: dict[str, Any], finish: str | None = None) -> str:
            return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"

        field = self.reasoning_field if self.reasoning_field != "inline" else None
        if field and message.get(field):
            text = message[field]
            yield event({field: text[: len(text) // 2]})
            yield event({field: text[len(text) // 2 :]})
        yield event({"content": message["content"]})
        if truncated:
            return  # the stream just stops: no finish_reason, no [DONE]
        for i, call in enumerate(message.get("tool_calls") or []):
            yield event({"tool_calls": [{"index": i, **call}]})
        yield event({}, "tool_calls" if message.get("tool_calls") else "stop")
        yield "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}) + "\n\n"
        yield "data: [DONE]\n\n"
