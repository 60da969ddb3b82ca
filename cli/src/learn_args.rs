//! The learned method's training flags, one set for every command that compiles
//! (`compile`, `eval`, `suite`), so they are spelled, documented and defaulted once.

use lutgen_compile::LearnOptions;

/// Training settings of `--method learned` (LUT-NN); see docs/compiler.md.
#[derive(clap::Args, Clone, Debug)]
pub struct LearnArgs {
    /// Epochs of the learned method.
    #[arg(long, default_value_t = LearnOptions::default().epochs)]
    pub epochs: usize,
    /// Rows per gradient step of the learned method.
    #[arg(long, default_value_t = LearnOptions::default().batch)]
    pub batch: usize,
    /// Adam step size of the learned method (normalized units; cosine decay).
    #[arg(long, default_value_t = LearnOptions::default().learning_rate)]
    pub learning_rate: f64,
    /// Weight of the learned method's distillation from the float network (0: labels only).
    #[arg(long, default_value_t = LearnOptions::default().distill)]
    pub distill: f64,
    /// Mixup distillation: unlabelled mixed rows per batch row, scored by the float network (0: off).
    #[arg(long, default_value_t = LearnOptions::default().mixup)]
    pub mixup: f64,
    /// Keep the learned method's epoch most accurate on its validation rows (false: the last epoch).
    #[arg(long, default_value_t = LearnOptions::default().best_epoch, action = clap::ArgAction::Set)]
    pub best_epoch: bool,
    /// Round the learned method's tables to the table width in its training's forward pass (straight-through).
    #[arg(long, default_value_t = LearnOptions::default().quantize_tables, action = clap::ArgAction::Set)]
    pub quantize_tables: bool,
    /// Learn free tables (from the refit) instead of tables derived from the centroids and learned weights.
    #[arg(long)]
    pub free_tables: bool,
    /// Fraction of the calibration rows held out to validate the learned method.
    #[arg(long, default_value_t = LearnOptions::default().validation)]
    pub validation: f64,
}

impl LearnArgs {
    /// The training options, with the calibration rows' labels.
    pub fn options(&self, labels: Option<Vec<usize>>) -> LearnOptions {
        LearnOptions {
            epochs: self.epochs,
            batch: self.batch,
            learning_rate: self.learning_rate,
            validation: self.validation,
            distill: self.distill,
            mixup: self.mixup,
            free_tables: self.free_tables,
            best_epoch: self.best_epoch,
            quantize_tables: self.quantize_tables,
            labels,
            verbose: false,
        }
    }
}
