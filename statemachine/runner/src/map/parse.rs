//! Reading a Map state's fields from the definition: the ItemProcessor (or Iterator), the
//! ItemSelector (or Parameters), the ItemReader, and the numbers given as `X` or `XPath`.

use serde_json::Value;

use super::{Amount, InputType, ItemReaderSpec, MapState, Mode};
use crate::definition::{self, parse_machine};
use crate::error::DefinitionError;
use crate::fields::Fields;

/// Reads `X` or `XPath` (not both) as an `Amount`.
fn amount(fields: &mut Fields<'_>, name: &str) -> Result<Option<Amount>, DefinitionError> {
    let path_name = format!("{name}Path");
    let fixed = fields.number(name)?;
    let path = fields.read_path(&path_name)?;
    match (fixed, path) {
        (Some(_), Some(_)) => {
            Err(fields.invalid(format!("\"{name}\" and \"{path_name}\" cannot both be set")))
        }
        (Some(n), None) if n < 0.0 => Err(fields.invalid(format!("\"{name}\" is negative"))),
        (Some(n), None) => Ok(Some(Amount::Fixed(n))),
        (None, Some(p)) => Ok(Some(Amount::Path(p))),
        (None, None) => Ok(None),
    }
}

pub(crate) fn parse_map(
    fields: &mut Fields<'_>,
    location: &str,
) -> Result<MapState, DefinitionError> {
    let inner_scope = format!("in the ItemProcessor of {location}");
    // `Iterator` and a Map's `Parameters` are the older names of ItemProcessor and ItemSelector.
    let (processor_field, processor_value) =
        match (fields.get("ItemProcessor"), fields.get("Iterator")) {
            (Some(_), Some(_)) => {
                return Err(fields.invalid("\"ItemProcessor\" and \"Iterator\" cannot both be set"));
            }
            (Some(v), None) => ("ItemProcessor", v),
            (None, Some(v)) => ("Iterator", v),
            (None, None) => {
                return Err(DefinitionError::MissingField {
                    field: "ItemProcessor".into(),
                    location: location.to_owned(),
                });
            }
        };
    let mut processor_fields = Fields::new(
        processor_value,
        format!("the {processor_field} of {location}"),
    )?;
    let mode = match processor_fields.get("ProcessorConfig") {
        None => Mode::Inline,
        Some(config) => {
            let mut config = Fields::new(config, format!("the ProcessorConfig of {location}"))?;
            let mode = match config.string("Mode")?.as_deref() {
                None | Some("INLINE") => Mode::Inline,
                Some("DISTRIBUTED") => Mode::Distributed,
                Some(other) => {
                    return Err(DefinitionError::UnsupportedValue {
                        field: "Mode".into(),
                        value: format!("{other:?}"),
                        location: config.location().to_owned(),
                    });
                }
            };
            // Both execution types run the same way here: the child's states, in-process.
            match (mode, config.string("ExecutionType")?.as_deref()) {
                (Mode::Inline, None)
                | (Mode::Distributed, None | Some("STANDARD") | Some("EXPRESS")) => {}
                (_, Some(other)) => {
                    return Err(DefinitionError::UnsupportedValue {
                        field: "ExecutionType".into(),
                        value: format!("{other:?}"),
                        location: config.location().to_owned(),
                    });
                }
            }
            config.finish()?;
            mode
        }
    };
    let processor = parse_machine(&mut processor_fields, &inner_scope)?;
    processor_fields.finish()?;

    let item_selector = match (fields.has("ItemSelector"), fields.has("Parameters")) {
        (true, true) => {
            return Err(fields.invalid("\"ItemSelector\" and \"Parameters\" cannot both be set"));
        }
        (true, false) => fields.template("ItemSelector")?,
        (false, _) => fields.template("Parameters")?,
    };
    let items_path = fields.read_path("ItemsPath")?;
    let reader = match fields.get("ItemReader") {
        None => None,
        Some(value) => Some(parse_reader(value, location)?),
    };
    let max_concurrency = amount(fields, "MaxConcurrency")?;
    let tolerated_count = amount(fields, "ToleratedFailureCount")?;
    let tolerated_percentage = amount(fields, "ToleratedFailurePercentage")?;
    if let Some(Amount::Fixed(p)) = tolerated_percentage
        && p > 100.0
    {
        return Err(fields.invalid("\"ToleratedFailurePercentage\" must be between 0 and 100"));
    }
    if mode == Mode::Inline {
        for (given, name) in [
            (reader.is_some(), "ItemReader"),
            (tolerated_count.is_some(), "ToleratedFailureCount"),
            (tolerated_percentage.is_some(), "ToleratedFailurePercentage"),
        ] {
            if given {
                return Err(
                    fields.invalid(format!("\"{name}\" needs ProcessorConfig Mode DISTRIBUTED"))
                );
            }
        }
    }
    if reader.is_some() && items_path.is_some() {
        return Err(fields.invalid("\"ItemsPath\" cannot be used with \"ItemReader\""));
    }
    let outcome = definition::parse_outcome(fields, location)?;
    Ok(MapState {
        mode,
        processor,
        items_path,
        item_selector,
        reader,
        max_concurrency,
        tolerated_count,
        tolerated_percentage,
        outcome,
    })
}

fn parse_reader(value: &Value, location: &str) -> Result<ItemReaderSpec, DefinitionError> {
    let mut fields = Fields::new(value, format!("the ItemReader of {location}"))?;
    let resource = fields.required_string("Resource")?;
    if resource != "arn:aws:states:::s3:getObject" {
        return Err(DefinitionError::UnsupportedValue {
            field: "Resource".into(),
            value: format!("{resource:?}"),
            location: fields.location().to_owned(),
        });
    }
    let config_value = fields.require("ReaderConfig")?;
    let mut config = Fields::new(config_value, format!("the ReaderConfig of {location}"))?;
    let input_type = match config.required_string("InputType")?.as_str() {
        "JSON" => InputType::Json,
        "JSONL" => InputType::JsonLines,
        other => {
            return Err(DefinitionError::UnsupportedValue {
                field: "InputType".into(),
                value: format!("{other:?}"),
                location: config.location().to_owned(),
            });
        }
    };
    let max_items = amount(&mut config, "MaxItems")?;
    config.finish()?;
    let parameters =
        fields
            .template("Parameters")?
            .ok_or_else(|| DefinitionError::MissingField {
                field: "Parameters".into(),
                location: format!("the ItemReader of {location}"),
            })?;
    fields.finish()?;
    Ok(ItemReaderSpec {
        input_type,
        max_items,
        parameters,
    })
}
