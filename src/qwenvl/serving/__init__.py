"""Serving: an OpenAI-compatible HTTP API, a continuous-batching engine and a web UI.

`app.create_app` builds the FastAPI application around an `engine.Engine`; `qwenvl serve`
(cli/serve.py) loads a checkpoint and runs it with uvicorn. FastAPI and uvicorn are the `serve`
extra, imported only here.
"""
