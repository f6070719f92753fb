//! The embedding engine: tokenizer + ONNX session + pooling, in plain Rust.
//!
//! all-MiniLM-L6-v2: WordPiece tokens (truncated at 256), a 6-layer encoder giving
//! `last_hidden_state [batch, seq, 384]`, mean pooling over the attention mask, L2
//! normalisation. Batches are padded to their own longest member, and callers sort
//! texts by length first so little of each batch is padding.

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use std::path::{Path, PathBuf};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

pub const DIMENSIONS: usize = 384;
pub const MAX_TOKENS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{guc}: cannot load ONNX Runtime from '{path}': {reason}")]
    Runtime {
        guc: &'static str,
        path: String,
        reason: String,
    },
    #[error("{guc}: cannot load the model '{path}': {reason}")]
    Model {
        guc: &'static str,
        path: String,
        reason: String,
    },
    #[error("{guc}: cannot load the tokenizer '{path}': {reason}")]
    Tokenizer {
        guc: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "ONNX Runtime was loaded from '{loaded}' in this session; {guc} now names '{requested}'"
    )]
    RuntimeChanged {
        guc: &'static str,
        loaded: String,
        requested: String,
    },
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("the model returned an unexpected output: {0}")]
    BadOutput(String),
}

impl EmbedError {
    pub fn hint(&self) -> Option<String> {
        match self {
            EmbedError::Runtime { guc, .. } | EmbedError::Model { guc, .. } | EmbedError::Tokenizer { guc, .. } => {
                Some(format!(
                    "check the file named by {guc} (SELECT ai.version() shows every asset); reinstall ai_architect to restore the installed ones"
                ))
            }
            EmbedError::RuntimeChanged { .. } => {
                Some("a library cannot be unloaded from a running backend: reconnect to use the new path".into())
            }
            _ => None,
        }
    }
}

/// Where the engine's files are. GUC names are kept for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    pub onnxruntime: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
    pub threads: usize,
}

pub const GUC_RUNTIME: &str = "ai_architect.onnxruntime_path";
pub const GUC_MODEL: &str = "ai_architect.model_path";
pub const GUC_TOKENIZER: &str = "ai_architect.tokenizer_path";

/// ONNX Runtime can be loaded once per process: remember from where.
static RUNTIME: std::sync::OnceLock<(PathBuf, ort::environment::Environment)> =
    std::sync::OnceLock::new();

fn environment(path: &Path) -> Result<&'static ort::environment::Environment, EmbedError> {
    if let Some((loaded, env)) = RUNTIME.get() {
        if loaded != path {
            return Err(EmbedError::RuntimeChanged {
                guc: GUC_RUNTIME,
                loaded: loaded.display().to_string(),
                requested: path.display().to_string(),
            });
        }
        return Ok(env);
    }
    let err = |reason: String| EmbedError::Runtime {
        guc: GUC_RUNTIME,
        path: path.display().to_string(),
        reason,
    };
    // Checks the file is a real ONNX Runtime first: ort's own loader would abort the
    // process on some broken libraries instead of returning an error.
    super::assets::probe_onnxruntime(GUC_RUNTIME, path).map_err(|e| err(e.to_string()))?;
    let env = ort::init_from(path)
        .map_err(|e| err(e.to_string()))?
        .with_name("ai_architect")
        .with_telemetry(false)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let _ = RUNTIME.set((path.to_path_buf(), env));
    Ok(&RUNTIME.get().expect("just set").1)
}

pub struct Engine {
    config: EngineConfig,
    session: Session,
    tokenizer: Tokenizer,
    wants_token_type_ids: bool,
}

impl Engine {
    pub fn load(config: &EngineConfig) -> Result<Engine, EmbedError> {
        let env = environment(&config.onnxruntime)?;
        let model_err = |reason: String| EmbedError::Model {
            guc: GUC_MODEL,
            path: config.model.display().to_string(),
            reason,
        };
        if !config.model.is_file() {
            return Err(model_err("file does not exist".into()));
        }
        let tokenizer = load_tokenizer(&config.tokenizer)?;
        // from here on, in this backend (a model's load and runs free blocks of many MB)
        crate::heap::map_large_blocks();
        let session = Session::builder(env)
            .and_then(|b| {
                b.with_optimization_level(GraphOptimizationLevel::All)
                    .map_err(Into::into)
            })
            .and_then(|b| {
                b.with_intra_threads(config.threads.max(1))
                    .map_err(Into::into)
            })
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
            // No CPU arena: it would keep the largest batch's activations (~100 MB after a
            // 1,000-sentence call) for the life of the backend.
            .and_then(|b| {
                b.with_execution_providers([ort::ep::CPU::default()
                    .with_arena_allocator(false)
                    .build()])
                    .map_err(Into::into)
            })
            .and_then(|mut b| b.commit_from_file(&config.model))
            .map_err(|e: ort::Error| model_err(e.to_string()))?;
        // Loading folds the int8 weights into fp32 and frees the intermediates: give those
        // pages back (~55 MB).
        crate::heap::release_free_memory();
        let names: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !names.contains(&required) {
                return Err(model_err(format!(
                    "the model has no '{required}' input (inputs: {names:?})"
                )));
            }
        }
        let wants_token_type_ids = names.contains(&"token_type_ids");
        Ok(Engine {
            config: config.clone(),
            session,
            tokenizer,
            wants_token_type_ids,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Tokenizes without padding, truncated at [`MAX_TOKENS`].
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>, EmbedError> {
        self.tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))
    }

    /// Embeds one batch of already tokenized texts: one ONNX run.
    pub fn embed_encodings(
        &mut self,
        encodings: &[&Encoding],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let batch = encodings.len();
        let seq = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        let mut types = vec![0i64; batch * seq];
        for (row, enc) in encodings.iter().enumerate() {
            let base = row * seq;
            for (i, ((&id, &m), &t)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .zip(enc.get_type_ids())
                .enumerate()
            {
                ids[base + i] = id as i64;
                mask[base + i] = m as i64;
                types[base + i] = t as i64;
            }
        }
        let shape = [batch as i64, seq as i64];
        let tensor = |v: Vec<i64>| {
            Tensor::from_array((shape, v)).map_err(|e| EmbedError::Inference(e.to_string()))
        };
        let mut inputs = ort::inputs! {
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask.clone())?,
        };
        if self.wants_token_type_ids {
            inputs.push(("token_type_ids".into(), tensor(types)?.into()));
        }
        let outputs = self
            .session
            .run(inputs)
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
        let (out_shape, hidden) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| EmbedError::BadOutput(e.to_string()))?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        check_output(&dims, batch, seq)?;
        let vectors = mean_pool_normalize(hidden, &mask, batch, seq, DIMENSIONS);
        check_finite(&vectors)?;
        Ok(vectors)
    }
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer, EmbedError> {
    let err = |reason: String| EmbedError::Tokenizer {
        guc: GUC_TOKENIZER,
        path: path.display().to_string(),
        reason,
    };
    if !path.is_file() {
        return Err(err("file does not exist".into()));
    }
    // Tokenizing runs on the backend's own thread: no thread pool inside PostgreSQL.
    tokenizers::utils::parallelism::set_parallelism(false);
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    // The published file pads every input to 128 tokens; batches are padded here instead,
    // to their longest member.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| err(e.to_string()))?;
    Ok(tokenizer)
}

/// The model must give `[batch, seq, 384]`: anything else is a wrong or corrupt model.
pub fn check_output(dims: &[i64], batch: usize, seq: usize) -> Result<(), EmbedError> {
    if dims.len() != 3
        || dims[0] as usize != batch
        || dims[1] as usize != seq
        || dims[2] as usize != DIMENSIONS
    {
        return Err(EmbedError::BadOutput(format!(
            "shape {dims:?}, expected [{batch}, {seq}, {DIMENSIONS}]"
        )));
    }
    Ok(())
}

/// NaN or infinity in an embedding would poison every distance computed from it: refuse.
pub fn check_finite(vectors: &[Vec<f32>]) -> Result<(), EmbedError> {
    match vectors
        .iter()
        .position(|v| v.iter().any(|x| !x.is_finite()))
    {
        Some(i) => Err(EmbedError::BadOutput(format!(
            "embedding {} contains NaN or infinity",
            i + 1
        ))),
        None => Ok(()),
    }
}

/// Mean of the token vectors where the mask is 1, then L2-normalised.
/// `hidden` is `[batch, seq, dim]` row-major; `mask` is `[batch, seq]`.
pub fn mean_pool_normalize(
    hidden: &[f32],
    mask: &[i64],
    batch: usize,
    seq: usize,
    dim: usize,
) -> Vec<Vec<f32>> {
    (0..batch)
        .map(|b| {
            let mut acc = vec![0f32; dim];
            let mut count = 0f32;
            for s in 0..seq {
                if mask[b * seq + s] != 0 {
                    let row = &hidden[(b * seq + s) * dim..(b * seq + s + 1) * dim];
                    acc.iter_mut().zip(row).for_each(|(a, h)| *a += h);
                    count += 1.0;
                }
            }
            let count = count.max(1e-9);
            acc.iter_mut().for_each(|a| *a /= count);
            let norm = acc.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            acc.iter_mut().for_each(|a| *a /= norm);
            acc
        })
        .collect()
}

/// Indices of `lengths` ordered by length, cut into batches of at most `batch_size`:
/// texts of similar length share a batch, so padding stays small.
pub fn length_sorted_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    order
        .chunks(batch_size.max(1))
        .map(|c| c.to_vec())
        .collect()
}

#[cfg(test)]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_ignores_padding_and_normalises() {
        // batch 2, seq 3, dim 2; second row has one padded position holding garbage
        let hidden = [
            1.0, 0.0, 3.0, 0.0, 100.0, 100.0, 0.0, 2.0, 0.0, 4.0, 50.0, -50.0,
        ];
        let mask = [1, 1, 0, 1, 1, 0];
        let out = mean_pool_normalize(&hidden, &mask, 2, 3, 2);
        assert_eq!(out[0], vec![1.0, 0.0]);
        assert_eq!(out[1], vec![0.0, 1.0]);
        let all_masked = mean_pool_normalize(&[0.0, 0.0], &[0], 1, 1, 2);
        assert!(all_masked[0].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn wrong_dimensions_and_nan_are_errors() {
        assert!(check_output(&[2, 7, 384], 2, 7).is_ok());
        let e = check_output(&[2, 7, 768], 2, 7).unwrap_err();
        assert!(e.to_string().contains("expected [2, 7, 384]"), "{e}");
        assert!(check_output(&[2, 384], 2, 7).is_err());
        assert!(check_finite(&[vec![0.5, 0.5]]).is_ok());
        let e = check_finite(&[vec![0.5, 0.5], vec![f32::NAN, 1.0]]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the model returned an unexpected output: embedding 2 contains NaN or infinity"
        );
        assert!(check_finite(&[vec![f32::INFINITY]]).is_err());
        // pooling a NaN hidden state gives a NaN embedding, which check_finite catches
        let pooled = mean_pool_normalize(&[f32::NAN, 1.0], &[1], 1, 1, 2);
        assert!(check_finite(&pooled).is_err());
    }

    #[test]
    fn batches_group_similar_lengths() {
        let b = length_sorted_batches(&[10, 1, 7, 2, 9], 2);
        assert_eq!(b, vec![vec![1, 3], vec![2, 4], vec![0]]);
        assert!(length_sorted_batches(&[], 4).is_empty());
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
    }

    fn engine_from_cache() -> Engine {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/assets");
        assert!(
            dir.join("model.onnx").exists(),
            "{} is missing: run scripts/setup.sh assets",
            dir.display()
        );
        Engine::load(&EngineConfig {
            onnxruntime: dir.join("libonnxruntime.so.1.31.1"),
            model: dir.join("model.onnx"),
            tokenizer: dir.join("tokenizer.json"),
            threads: 1,
        })
        .unwrap()
    }

    /// Every item of the independent fp32 reference reaches cosine >= 0.995, batched
    /// (padded to the longest) exactly as ai.embed(text[]) runs it.
    #[test]
    fn matches_the_fp32_reference() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/minilm_reference.json");
        // the reference is held back outside the repository: without it the test says so
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!(
                "skipped: the held-back reference {} is not here",
                path.display()
            );
            return;
        };
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let items = fixture["items"].as_array().unwrap();
        let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
        let mut engine = engine_from_cache();
        let encodings = engine.tokenize(&texts).unwrap();
        let refs: Vec<&Encoding> = encodings.iter().collect();
        let got = engine.embed_encodings(&refs).unwrap();
        let mut worst = 1.0f32;
        for (item, v) in items.iter().zip(&got) {
            let want: Vec<f32> = item["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(v.len(), DIMENSIONS);
            let c = cosine(v, &want);
            worst = worst.min(c);
            assert!(c >= 0.995, "cosine {c} for {:?}", item["text"]);
        }
        // one at a time gives the same vectors as the padded batch
        for (t, v) in texts.iter().zip(&got).take(5) {
            let enc = engine.tokenize(&[t]).unwrap();
            let single = engine.embed_encodings(&[&enc[0]]).unwrap();
            assert!(cosine(&single[0], v) > 0.9999, "{t:?}");
        }
        eprintln!("worst cosine vs reference: {worst}");
    }

    #[test]
    fn long_texts_are_truncated_at_256_tokens() {
        let engine = engine_from_cache();
        let long = "word ".repeat(1000);
        let enc = engine.tokenize(&[long.as_str(), ""]).unwrap();
        assert_eq!(enc[0].get_ids().len(), MAX_TOKENS);
        assert_eq!(
            enc[1].get_ids().len(),
            2,
            "[CLS] [SEP] for the empty string, no padding"
        );
    }

    #[test]
    fn a_missing_model_names_the_setting_and_path() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/assets");
        let err = Engine::load(&EngineConfig {
            onnxruntime: dir.join("libonnxruntime.so.1.31.1"),
            model: PathBuf::from("/nonexistent/model.onnx"),
            tokenizer: dir.join("tokenizer.json"),
            threads: 1,
        })
        .err()
        .unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(GUC_MODEL) && msg.contains("/nonexistent/model.onnx"),
            "{msg}"
        );
        assert!(err.hint().unwrap().contains("ai.version()"));
    }

    #[test]
    fn a_corrupt_model_is_an_error_not_a_crash() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/assets");
        let tmp =
            std::env::temp_dir().join(format!("ai_arch_bad_model_{}.onnx", std::process::id()));
        std::fs::write(&tmp, b"definitely not protobuf").unwrap();
        let err = Engine::load(&EngineConfig {
            onnxruntime: dir.join("libonnxruntime.so.1.31.1"),
            model: tmp.clone(),
            tokenizer: dir.join("tokenizer.json"),
            threads: 1,
        })
        .err()
        .unwrap();
        std::fs::remove_file(&tmp).unwrap();
        assert!(matches!(err, EmbedError::Model { .. }), "{err}");
    }
}
