//! Drive a lutgen device from a program of your own: identify it, load a
//! table image, stream activations, check every result against the integer
//! reference and read the device's counters.
//!
//! ```sh
//! lutgen board --sim &                        # prints /dev/pts/N (or use a board's /dev/ttyUSB0)
//! cargo run --release -p lutgen-driver --example drive -- /dev/pts/N [model.lutimg]
//! ```
//!
//! Without an image it loads a random one made for the device's engine.

use lutgen_core::{Image, Reference};
use lutgen_driver::transport::serial::SerialTransport;
use lutgen_driver::{describe_config, Driver, DriverOptions};
use rand::{Rng, SeedableRng};
use std::error::Error;
use std::path::Path;

/// What one session with the device did.
#[derive(Debug)]
pub struct Summary {
    pub vectors: usize,
    pub mismatches: usize,
    pub vectors_processed: u32,
}

/// Loads `image` (or a random image for the device's engine) and checks `count` random vectors.
pub fn drive(port: &str, image: Option<&Path>, count: usize) -> Result<Summary, Box<dyn Error>> {
    // 1. Open the port (8N1, no flow control) and ask the device who it is.
    let link = SerialTransport::open(port, 115_200)?;
    let mut device = Driver::new(link, DriverOptions::default());
    let ident = device.identify()?;
    println!("device: {}", describe_config(&ident.config));

    // 2. Load a table image; a load for another engine is refused before any byte moves.
    let image = match image {
        Some(path) => Image::read_from(path)?,
        None => Image::random(ident.config.clone(), 1)?,
    };
    device.load(&image, &mut |done, total| {
        if done == total {
            println!("loaded {total} words");
        }
    })?;

    // 3. Stream int8 activations; the driver pipelines frames up to the device's buffer.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let inputs: Vec<Vec<i8>> = (0..count)
        .map(|_| (0..ident.config.input_dim).map(|_| rng.gen()).collect())
        .collect();
    let outputs = device.run(&inputs, &mut |_, _| {})?;

    // 4. Every output must equal the integer reference, bit for bit.
    let reference = Reference::new(&image);
    let mut mismatches = 0;
    for (x, y) in inputs.iter().zip(&outputs) {
        if &reference.infer(x)?.outputs != y {
            mismatches += 1;
        }
    }
    let status = device.status()?;
    println!(
        "{count} vectors, {mismatches} mismatches; the device has processed {} vectors",
        status.vectors_processed
    );
    Ok(Summary {
        vectors: count,
        mismatches,
        vectors_processed: status.vectors_processed,
    })
}

#[allow(dead_code)] // a test includes this file for `drive` and does not call `main`
fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let port = args.next().ok_or(
        "usage: drive PORT [IMAGE] (PORT: /dev/ttyUSB0, or the path `lutgen board --sim` printed)",
    )?;
    let image = args.next();
    let summary = drive(&port, image.as_deref().map(Path::new), 100)?;
    if summary.mismatches > 0 {
        return Err(format!("{} outputs differ from the reference", summary.mismatches).into());
    }
    Ok(())
}
