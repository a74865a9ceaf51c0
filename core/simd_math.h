/*
 * Vector variants of libm's float functions for `omp simd` loops. glibc's
 * libmvec (linked through libm) provides them; declaring them here lets
 * GCC call the 16-lane versions instead of leaving the loop scalar.
 */
#ifndef MG_SIMD_MATH_H
#define MG_SIMD_MATH_H

#include <math.h>

#if defined(__x86_64__) && defined(__GLIBC__) && defined(_OPENMP)
#define MG_SIMD_MATH(decl) _Pragma("omp declare simd notinbranch") decl;
MG_SIMD_MATH(float expf(float))
MG_SIMD_MATH(float logf(float))
MG_SIMD_MATH(float sinf(float))
MG_SIMD_MATH(float cosf(float))
MG_SIMD_MATH(float powf(float, float))
#if __GLIBC_PREREQ(2, 35)
MG_SIMD_MATH(float tanhf(float))
MG_SIMD_MATH(float erff(float))
MG_SIMD_MATH(float log1pf(float))
#endif
#endif

#endif
