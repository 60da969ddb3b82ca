//! `lutgen image`: write a table image, or describe one.

use crate::describe::NetworkSummary;
use crate::engine_args::EngineArgs;
use crate::error::Error;
use clap::Args;
use lutgen_core::network::NETWORK_MAGIC;
use lutgen_core::{Image, Network};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Write a table image of random centroids, tables and bias, or describe an image.
#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Fill the image with random values (the only generator until `lutgen compile`).
    #[arg(long, requires = "output")]
    pub random: bool,
    /// Seed for --random: the same seed gives the same image.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the image.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Describe an existing image, or a network file (`lutgen compile`'s
    /// output: layers, shapes, encoders, activations, scales, zero points),
    /// instead of writing one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["random", "output"])]
    pub show: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn describe(image: &Image, path: &std::path::Path, json: bool) {
    let config = image.config();
    if json {
        println!(
            "{}",
            json!({
                "image": path,
                "config": config,
                "centroid_bytes": image.centroids().len(),
                "table_bytes": image.tables().len(),
                "bias_bytes": image.bias().len() * 4,
            })
        );
    } else {
        println!(
            "{}: D={} C={} V={} K={} N={} lanes={} encoder={}; {} centroid bytes, {} table bytes",
            path.display(),
            config.input_dim,
            config.codebooks,
            config.sub_vector_len(),
            config.centroids,
            config.outputs,
            config.lanes,
            config.encoder,
            image.centroids().len(),
            image.tables().len()
        );
    }
}

/// Describes a network file (`lutgen compile`'s output): input quantization,
/// each layer's shape, encoder, requantization and activation, output scale.
fn describe_network(path: &Path, json: bool) -> Result<(), Error> {
    let network = Network::read_from(path).map_err(|e| Error::Compile(e.into()))?;
    let summary = NetworkSummary::of(&network);
    if json {
        let mut value = serde_json::to_value(&summary).expect("summary serializes");
        value["network"] = json!(path);
        println!("{value}");
    } else {
        print!(
            "{}: a network of {} layers\n{}",
            path.display(),
            summary.layers.len(),
            summary.text()
        );
    }
    Ok(())
}

/// Whether the file starts as a network file does.
fn is_network(path: &Path) -> Result<bool, Error> {
    use std::io::Read;
    let mut magic = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let n = file.read(&mut magic).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(n == magic.len() && magic == NETWORK_MAGIC)
}

pub fn run(args: &ImageArgs) -> Result<(), Error> {
    if let Some(path) = &args.show {
        if is_network(path)? {
            return describe_network(path, args.json);
        }
        let image = Image::read_from(path)?;
        describe(&image, path, args.json);
        return Ok(());
    }
    let (true, Some(path)) = (args.random, &args.output) else {
        return Err(Error::Usage(
            "say what to write: `lutgen image --random --seed S -o FILE` (or --show FILE)".into(),
        ));
    };
    let config = args.engine.resolve()?;
    let image = Image::random(config, args.seed)?;
    image.write_to(path)?;
    describe(&image, path, args.json);
    Ok(())
}
