plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "com.possdk"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        // Keep rules for the classes and members libpossdk_jni.so calls by name; applied to every app using us.
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            // src/main/kotlin is shared with the host-JVM test (ffi-jni/tests/jvm_day.rs compiles it with kotlinc);
            // src/android/kotlin holds what needs Android-only dependencies (the coroutine wrappers).
            java.srcDirs("src/main/kotlin", "src/android/kotlin")
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    packaging {
        jniLibs {
            // Stored uncompressed and page-aligned in the APK (the .so files are linked for 16 KB pages).
            useLegacyPackaging = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
        // Interface defaults (CardReader.completeChip / loadEmvParameters) as real Java default methods,
        // so Java apps can implement the device interfaces without writing them.
        freeCompilerArgs.add("-Xjvm-default=all")
    }
}

dependencies {
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}
