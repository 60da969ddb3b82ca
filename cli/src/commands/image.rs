//! `lutgen image`: write a table image, or describe one.

use crate::engine_args::EngineArgs;
use crate::error::Error;
use clap::Args;
use lutgen_core::Image;
use serde_json::json;
use std::path::PathBuf;

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
    /// Describe an existing image instead of writing one.
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

pub fn run(args: &ImageArgs) -> Result<(), Error> {
    if let Some(path) = &args.show {
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
