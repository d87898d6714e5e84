// Named tolerances for float comparisons (relative to max(1, |reference|) unless stated).
/** f32 kernel result vs an f64 reference of the same product. */
export const F32_VS_F64_REL = 1e-5;
/** Analytic f32 gradient vs central finite difference of the f64 reference loss. */
export const GRAD_VS_FD_REL = 2e-3;
export const GRAD_VS_FD_ABS = 1e-5;
