"""Speed benchmarks (`slmkit bench`), with the peers slmkit is measured against.

encoders     our ONNX int8 encoder against the torch fp32 baseline
specialists  load time, latency and memory of each specialist, each in a fresh process
route        every routing strategy on held-out MMLU, from one recorded outcome table
semantic     semantic routes on SNIPS against the semantic-router package
gateway      the gateway's added latency and throughput against the LiteLLM proxy
soak         the gateway under a steady mixed load for minutes: errors and memory over time
rag          ingest throughput, index size and query latency
baselines/   the scripts the peers run in their own processes (and virtualenvs)

Called from the CLI only; nothing here is imported by runtime code or by the evaluations.
"""
