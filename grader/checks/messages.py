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
        "claim_gap": "tu cuaderno obtiene {claimed:.3f} ({source}) pero con imágenes en [0, 1] el modelo obtiene "
                     "{measured:.3f}: el modelo espera otras entradas (¿las estandarizaste?); el enunciado pide "
                     "imágenes en [0, 1] (x / 255): entrena con ellas o incluye el preprocesado dentro del modelo",
        "hog_uint8": "hog_features da otras características para imágenes uint8 que para las mismas en [0, 1]: "
                     "recibe imágenes uint8 (n, 28, 28); no multipliques por 255 (los uint8 se desbordan)",
        "unverified": "[no verificado: el modelo no se pudo cargar fuera del notebook (clase propia); revisión manual]",
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
        "claim_gap": "your notebook reports {claimed:.3f} ({source}) but on images in [0, 1] the model gets "
                     "{measured:.3f}: the model expects other inputs (did you standardise them?); the statement "
                     "asks for images in [0, 1] (x / 255): train on those or put the preprocessing inside the model",
        "hog_uint8": "hog_features gives other features for uint8 images than for the same images in [0, 1]: it "
                     "receives uint8 images (n, 28, 28); do not multiply by 255 (uint8 values wrap around)",
        "unverified": "[unverified: the model could not be loaded outside the notebook (own class); review by hand]",
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
