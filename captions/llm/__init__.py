"""LLM backends behind one small interface (`captions.llm.base.Backend`).

Only `captions/llm/openai_backend.py` imports the `openai` SDK; everything else calls
`get_backend(...)` and the `Backend` protocol.
"""
