//! In-process embeddings: the model assets, the engine (tokenizer + ONNX session +
//! pooling), pgvector's type, and the SQL functions.
pub mod api;
pub mod assets;
pub mod engine;
pub mod session;
pub mod vector;
