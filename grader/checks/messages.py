"""Message catalogue for check results: Spanish (the course's language) and English."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "es": {
        "layer": "capa {index} ({cls})",
        "output": "salida {got}, esperada {expected}",
        "hint_padding": "revisa padding='{expected}'",
        "hint_kernel_size": "usa un kernel {expected} (tienes {got})",
        "hint_filters": "usa {expected} filtros (tienes {got})",
        "hint_units": "usa {expected} neuronas (tienes {got})",
        "hint_activation": "activación '{expected}' esperada (tienes '{got}')",
        "hint_pool_size": "usa pool_size {expected} (tienes {got})",
        "hint_strides": "usa strides {expected} (tienes {got})",
        "hint_rate": "usa rate {expected} (tienes {got})",
        "missing_layer": "falta una capa {cls} en la posición {position} (salida esperada {expected})",
        "extra_layer": "{layer}: capa extra que no está en la arquitectura pedida",
        "hint_softmax": "no tiene softmax y la pérdida no usa from_logits=True",
        "input_shape": "entrada {got}, esperada {expected}",
        "input_shape_or_reshape": "entrada {got}, esperada {expected} (o {without_channel} con un Reshape al "
                                  "principio)",
        "architecture_ok": "La arquitectura coincide con la tabla ({n} capas).",
        "architecture_bad": "{n} diferencia(s) con la arquitectura pedida",
        "params_ok": "{total} parámetros, como la arquitectura pedida.",
        "params_bad": "{got} parámetros, esperados {expected}",
        "params_layer": "{layer}: {got} parámetros, esperados {expected}",
        "accuracy": "precisión {accuracy:.4f} (puntuación completa desde {full_at:.4f}, cero por debajo de {zero_at:.4f})",
        "test_split_gap": "posible entrenamiento con el conjunto de test: el modelo acierta {seen:.4f} en imágenes "
                          "de test que tenías y {secret:.4f} en otras que nunca viste (diferencia {gap:.4f}, más que "
                          "el azar, {threshold:.4f}); entrena solo con el conjunto de entrenamiento; el profesor lo "
                          "revisará",
        "beats_base": "el modelo mejorado ({accuracy:.4f}) supera a la CNN base ({base:.4f})",
        "not_beats_base": "el modelo mejorado ({accuracy:.4f}) no supera a la CNN base ({base:.4f})",
        "ties_base": "el modelo mejorado ({accuracy:.4f}) no se distingue de la CNN base ({base:.4f}): la "
                     "diferencia está dentro del ruido de estas imágenes (±{noise:.4f})",
        "raw_pixels": "hog_features devuelve los píxeles sin transformar: el SVM debe entrenarse sobre HOG",
        "denoise": "PSNR {noisy_psnr:.2f} → {denoised_psnr:.2f} dB (+{psnr_gain:.2f}), SSIM {noisy_ssim:.3f} → "
                   "{denoised_ssim:.3f}; puntuación completa desde +{full_at:.2f} dB, cero desde +{zero_at:.2f} dB",
        "ssim_worse": "el SSIM de la salida no mejora el de la imagen ruidosa",
        "ae_shape": "salida {got}, esperada {expected} (misma forma que la entrada)",
        "ae_range": "la salida tiene valores fuera de [0, 1] (mín {low:.3f}, máx {high:.3f}): usa sigmoid al final",
        "ae_identity": "la salida es igual a la entrada: el autoencoder no elimina ruido",
        "ae_ok": "el autoencoder devuelve imágenes {shape} en [0, 1]",
        "not_finite": "las salidas contienen NaN o infinitos",
        "missing_object": "no se encontró '{name}' en el notebook: {reason}",
        "unloadable": "'{name}' no se pudo cargar de forma segura: {reason}",
        "rules_ok": "cumple las normas de entrega",
        "claim_printed": "lo que imprime la celda {cell}",
        "claim_gap": "tu cuaderno obtiene {claimed:.3f} ({source}) pero con imágenes en [0, 1] el modelo obtiene "
                     "{measured:.3f}: el modelo espera otras entradas (¿las estandarizaste?); el enunciado pide "
                     "imágenes en [0, 1] (x / 255): entrena con ellas o incluye el preprocesado dentro del modelo",
        "hog_uint8": "hog_features da otras características para imágenes uint8 que para las mismas en [0, 1]: "
                     "recibe imágenes uint8 (n, 28, 28); no multipliques por 255 (los uint8 se desbordan)",
        "unverified": "[no verificado: el modelo no se pudo cargar fuera del notebook (clase propia); revisión manual]",
        "review_note": "[pendiente de revisión del profesor: {reason}]",
        "review_unverified": "'{name}' no se pudo cargar fuera del notebook (clase propia): se puntuó con lo que "
                             "calculó el propio notebook, sin verificar",
        "review_inconsistent": "el archivo de '{name}' no es coherente con lo que declaró el notebook",
        "forged_archive": "'{name}' no puntúa: su archivo .keras no es coherente con lo que declaró el notebook "
                          "({reason})",
        "outputs_inconsistent": "'{name}' no puntúa: sus salidas exportadas tienen forma {got} y el notebook "
                                "declaró {expected}",
        "archive_no_weights": "no contiene pesos HDF5 legibles (model.weights.h5)",
        "archive_no_summary": "falta el resumen de capas del notebook o no es válido",
        "archive_total": "los pesos suman {found} parámetros y el notebook declaró {declared}",
        "archive_layer_missing": "la capa '{layer}' declara {params} parámetros y el archivo no tiene sus pesos",
        "archive_layer_params": "la capa '{layer}' declara {declared} parámetros y sus pesos tienen {found}",
        "archive_layer_width": "la capa '{layer}' declara {setting}={declared} y sus pesos tienen forma {shape}",
        "archive_input": "el notebook declaró la entrada {declared} y el archivo dice {found}",
        "object_timeout": "'{name}' se detuvo: superó el límite de {seconds} s por objeto (exportarlo, cargarlo o "
                          "aplicarlo a las imágenes de evaluación); las comprobaciones que lo usan no puntúan: haz "
                          "el modelo más ligero",
        "job_timeout": "no se evaluó: la corrección superó su límite de {seconds} s y se detuvo",
        "job_timeout_object": "no se evaluó: la corrección superó su límite de {seconds} s mientras evaluaba "
                              "'{name}' y se detuvo",
        "cut_note": "[recortado: {what}]",
        "reply_too_large": "no se evaluó: la respuesta de la corrección superaba {limit} KB",
        "cut_file": "{file} ocupa {size}, más que el límite de {limit}: no se leyó",
        "cut_history_keys": "'{name}' tiene {total} métricas, se usan {kept}",
        "cut_history_values": "'{name}'['{metric}'] tiene {total} valores, se usan {kept}",
        "cut_reason": "el motivo de '{name}' tenía {total} caracteres, se guardan {kept}",
        "cut_name": "un nombre de {total} caracteres, se guardan {kept}",
        "cut_details": "datos {keys} ({size} KB) para que la respuesta no pase de {limit} KB",
        "cut_message": "el mensaje tenía {total} caracteres, se guardan {kept}",
        "manifest_unreadable": "el registro de exportación no es válido ({reason})",
        "rule_errors": "el notebook no se ejecuta de principio a fin sin errores ({n} celda(s) con error)",
        "rule_input": "pide datos con input() (celda {cell}): fija los parámetros en el código",
        "rule_writes": "escribe en disco: {files}",
        "rule_extra_files": "se entregaron otros ficheros además del notebook: {files}",
        "rule_module": "la celda {cell} importa '{module}', que no está en el entorno de corrección (además de la "
                       "biblioteca estándar de Python se pueden importar: {allowed}); solución: quita ese import y "
                       "usa uno de esos módulos",
        "rule_timeout": "la celda {cells} superó el límite de {seconds} s por celda: entrena menos épocas (las que fija el "
                        "enunciado) o con menos imágenes, o pide la corrección en la cola con GPU",
    },
    "en": {
        "layer": "layer {index} ({cls})",
        "output": "output {got}, expected {expected}",
        "hint_padding": "check padding='{expected}'",
        "hint_kernel_size": "use a {expected} kernel (you have {got})",
        "hint_filters": "use {expected} filters (you have {got})",
        "hint_units": "use {expected} units (you have {got})",
        "hint_activation": "activation '{expected}' expected (you have '{got}')",
        "hint_pool_size": "use pool_size {expected} (you have {got})",
        "hint_strides": "use strides {expected} (you have {got})",
        "hint_rate": "use rate {expected} (you have {got})",
        "missing_layer": "a {cls} layer is missing at position {position} (expected output {expected})",
        "extra_layer": "{layer}: extra layer that is not in the required architecture",
        "hint_softmax": "it has no softmax and the loss does not use from_logits=True",
        "input_shape": "input {got}, expected {expected}",
        "input_shape_or_reshape": "input {got}, expected {expected} (or {without_channel} with a Reshape first)",
        "architecture_ok": "The architecture matches the table ({n} layers).",
        "architecture_bad": "{n} difference(s) from the required architecture",
        "params_ok": "{total} parameters, as the required architecture.",
        "params_bad": "{got} parameters, expected {expected}",
        "params_layer": "{layer}: {got} parameters, expected {expected}",
        "accuracy": "accuracy {accuracy:.4f} (full credit from {full_at:.4f}, none below {zero_at:.4f})",
        "test_split_gap": "possible training on the test set: the model gets {seen:.4f} on test images you had "
                          "and {secret:.4f} on others you never saw (a gap of {gap:.4f}, beyond chance, "
                          "{threshold:.4f}); train on the training set only; the instructor will review it",
        "beats_base": "the improved model ({accuracy:.4f}) beats the base CNN ({base:.4f})",
        "not_beats_base": "the improved model ({accuracy:.4f}) does not beat the base CNN ({base:.4f})",
        "ties_base": "the improved model ({accuracy:.4f}) cannot be told apart from the base CNN ({base:.4f}): "
                     "the difference is within the noise of these images (±{noise:.4f})",
        "raw_pixels": "hog_features returns the raw pixels: the SVM must be trained on HOG features",
        "denoise": "PSNR {noisy_psnr:.2f} → {denoised_psnr:.2f} dB (+{psnr_gain:.2f}), SSIM {noisy_ssim:.3f} → "
                   "{denoised_ssim:.3f}; full credit from +{full_at:.2f} dB, none from +{zero_at:.2f} dB",
        "ssim_worse": "the output's SSIM does not improve on the noisy image's",
        "ae_shape": "output {got}, expected {expected} (same shape as the input)",
        "ae_range": "the output has values outside [0, 1] (min {low:.3f}, max {high:.3f}): end with a sigmoid",
        "ae_identity": "the output equals the input: the autoencoder removes no noise",
        "ae_ok": "the autoencoder returns {shape} images in [0, 1]",
        "not_finite": "the outputs contain NaN or infinite values",
        "missing_object": "'{name}' was not found in the notebook: {reason}",
        "unloadable": "'{name}' could not be loaded safely: {reason}",
        "rules_ok": "follows the submission rules",
        "claim_printed": "printed by cell {cell}",
        "claim_gap": "your notebook reports {claimed:.3f} ({source}) but on images in [0, 1] the model gets "
                     "{measured:.3f}: the model expects other inputs (did you standardise them?); the statement "
                     "asks for images in [0, 1] (x / 255): train on those or put the preprocessing inside the model",
        "hog_uint8": "hog_features gives other features for uint8 images than for the same images in [0, 1]: it "
                     "receives uint8 images (n, 28, 28); do not multiply by 255 (uint8 values wrap around)",
        "unverified": "[unverified: the model could not be loaded outside the notebook (own class); review by hand]",
        "review_note": "[awaiting the instructor's review: {reason}]",
        "review_unverified": "'{name}' could not be loaded outside the notebook (own class): it was graded from "
                             "what the notebook itself computed, unverified",
        "review_inconsistent": "the file of '{name}' does not match what the notebook reported",
        "forged_archive": "'{name}' earns nothing: its .keras file does not match what the notebook reported "
                          "({reason})",
        "outputs_inconsistent": "'{name}' earns nothing: its exported outputs have shape {got} and the notebook "
                                "reported {expected}",
        "archive_no_weights": "it holds no readable HDF5 weights (model.weights.h5)",
        "archive_no_summary": "the notebook's layer summary is missing or invalid",
        "archive_total": "the weights add up to {found} parameters and the notebook reported {declared}",
        "archive_layer_missing": "layer '{layer}' reports {params} parameters and the file has no weights for it",
        "archive_layer_params": "layer '{layer}' reports {declared} parameters and its weights hold {found}",
        "archive_layer_width": "layer '{layer}' reports {setting}={declared} and its weights have shape {shape}",
        "archive_input": "the notebook reported input {declared} and the file says {found}",
        "object_timeout": "'{name}' was stopped: it ran past the per-object limit of {seconds} s (exporting, "
                          "loading or applying it to the evaluation images); the checks that read it earn "
                          "nothing: make the model lighter",
        "job_timeout": "not evaluated: grading ran past its limit of {seconds} s and was stopped",
        "job_timeout_object": "not evaluated: grading ran past its limit of {seconds} s while evaluating '{name}' "
                              "and was stopped",
        "cut_note": "[cut: {what}]",
        "reply_too_large": "not evaluated: the grading reply was over {limit} KB",
        "cut_file": "{file} is {size}, over the limit of {limit}: not read",
        "cut_history_keys": "'{name}' has {total} metrics, {kept} are used",
        "cut_history_values": "'{name}'['{metric}'] has {total} values, {kept} are used",
        "cut_reason": "the reason of '{name}' had {total} characters, {kept} are kept",
        "cut_name": "a name of {total} characters, {kept} are kept",
        "cut_details": "figures {keys} ({size} KB) so that the reply stays within {limit} KB",
        "cut_message": "the message had {total} characters, {kept} are kept",
        "manifest_unreadable": "the export record is not valid ({reason})",
        "rule_errors": "the notebook does not run start to end without errors ({n} cell(s) with an error)",
        "rule_input": "asks for input with input() (cell {cell}): fix the parameters in the code",
        "rule_writes": "writes to disk: {files}",
        "rule_extra_files": "files other than the notebook were submitted: {files}",
        "rule_module": "cell {cell} imports '{module}', which the grading environment does not have (besides "
                       "Python's standard library a notebook may import: {allowed}); fix: remove that import and "
                       "use one of those modules",
        "rule_timeout": "cell {cells} ran past the per-cell limit of {seconds} s: train for fewer epochs (those the "
                        "statement sets) or on fewer images, or ask for grading in the GPU queue",
    },
}


def message(lang: str, key: str, **values) -> str:
    return MESSAGES.get(lang, MESSAGES["es"])[key].format(**values)
