"""The rag app: ingest, chunk, embed and index documents; hybrid retrieval; cited answers;
evaluation and retrieval-quality alerts."""
